"""Where the audit store lives: a path, `sqlite:///PATH` or `postgresql://USER@HOST:PORT/DB`.

One string (`--audit-db`, MIGRATION_GATE_AUDIT_DB) picks the backend. A PostgreSQL password is
never part of that string: it would sit in a process listing, a log line or an error. It comes
from a file (MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE, e.g. a mounted Secret), the environment
(MIGRATION_GATE_AUDIT_DB_PASSWORD), or libpq's own PGPASSWORD / ~/.pgpass, and is held in a
`Secret` whose repr and str never show it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from webhook.errors import ConfigError

PASSWORD_FILE_ENV = "MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE"  # noqa: S105 - a variable name
PASSWORD_ENV = "MIGRATION_GATE_AUDIT_DB_PASSWORD"  # noqa: S105 - a variable name
#: a password file longer than this is not a password (a mounted directory, a wrong file)
MAX_PASSWORD_BYTES = 4096
MAX_TARGET = 2048
#: libpq parameters a URL may carry; anything else (password, passfile, service...) is refused
ALLOWED_PARAMS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "connect_timeout",
        "application_name",
        "target_session_attrs",
        "host",
        "port",
        "options",
    }
)


class Secret:
    """A password that never prints: repr/str are constant, `reveal()` is the one way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class SqliteTarget:
    """An SQLite file (today's embedded store)."""

    path: Path

    @property
    def display(self) -> str:
        return str(self.path)


@dataclass(frozen=True, slots=True)
class PostgresTarget:
    """A PostgreSQL database; `display` is safe to log (it never holds a password)."""

    host: str
    port: int
    dbname: str
    user: str
    params: tuple[tuple[str, str], ...] = ()
    password: Secret | None = field(default=None, repr=False, compare=False)

    @property
    def display(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{host}:{self.port}/{self.dbname}"

    def connect_kwargs(self) -> dict[str, str]:
        """libpq keyword parameters (the password among them only if one was configured)."""
        kwargs = {"host": self.host, "port": str(self.port), "dbname": self.dbname}
        if self.user:
            kwargs["user"] = self.user
        kwargs.update(self.params)
        if self.password is not None:
            kwargs["password"] = self.password.reveal()
        return kwargs


Target = SqliteTarget | PostgresTarget


def parse_target(
    target: str | Path,
    *,
    password_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    read_password: bool = True,
) -> Target:
    """The target named by `target`; ConfigError (never echoing a password) if it is unusable.

    A `Path` is a file, except one that is a postgresql URL `Path()` folded (`postgresql:/u@h/db`:
    the double slash collapsed), which is read back as the URL it was.
    """
    text = str(target)
    folded = text[:13].lower()
    if folded.startswith(("postgresql:/", "postgres:/")) and "://" not in text[:14]:
        scheme, rest = text.split(":/", 1)
        text = f"{scheme}://{rest}"
    elif isinstance(target, Path):
        return SqliteTarget(target)
    if len(text) > MAX_TARGET:
        raise ConfigError(
            f"audit store target longer than {MAX_TARGET} characters", field="audit_db"
        )
    low = text[:16].lower()
    if low.startswith("sqlite://"):
        return _sqlite(text)
    if low.startswith(("postgresql://", "postgres://")):
        return _postgres(
            text, password_file=password_file, environ=environ, read_password=read_password
        )
    if "://" in text:
        scheme = text.split("://", 1)[0][:20]
        raise ConfigError(
            f"unknown audit store scheme {scheme!r}: use a path, sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB",
            field="audit_db",
        )
    return SqliteTarget(Path(text))


def _sqlite(text: str) -> SqliteTarget:
    rest = text.split("://", 1)[1]
    if not rest.startswith("/"):
        raise ConfigError(
            "sqlite URL must be sqlite:///RELATIVE or sqlite:////ABSOLUTE (no host)",
            field="audit_db",
        )
    path = rest[1:]
    if not path:
        raise ConfigError("sqlite URL names no file", field="audit_db")
    return SqliteTarget(Path(unquote(path)))


def _postgres(
    text: str,
    *,
    password_file: Path | None,
    environ: Mapping[str, str] | None,
    read_password: bool,
) -> PostgresTarget:
    try:
        parts = urlsplit(text)
        port = parts.port or 5432
    except ValueError:
        raise ConfigError(
            "audit store URL is not a valid postgresql:// URL", field="audit_db"
        ) from None
    if parts.password is not None:
        raise ConfigError(
            "the audit store URL must not contain a password: put it in a file named by "
            f"{PASSWORD_FILE_ENV} (or {PASSWORD_ENV})",
            field="audit_db",
        )
    params: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in ALLOWED_PARAMS:
            raise ConfigError(
                f"audit store URL parameter {key[:40]!r} is not allowed "
                f"(allowed: {', '.join(sorted(ALLOWED_PARAMS))})",
                field="audit_db",
            )
        params.append((key, value))
    host = parts.hostname or ""
    given = dict(params)
    if not host and "host" not in given:
        raise ConfigError("audit store URL names no host", field="audit_db")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise ConfigError("audit store URL names no database", field="audit_db")
    if "host" in given:  # a Unix socket directory: postgresql://user@/db?host=/run/pg
        host = given.pop("host")
    if "port" in given:
        try:
            port = int(given.pop("port"))
        except ValueError:
            raise ConfigError("audit store URL port is not a number", field="audit_db") from None
    params = [(k, v) for k, v in params if k in given]
    return PostgresTarget(
        host=host,
        port=port,
        dbname=dbname,
        user=unquote(parts.username or ""),
        params=tuple(params),
        password=_password(password_file, os.environ if environ is None else environ)
        if read_password
        else None,
    )


def display_target(target: str | Path) -> str:
    """The target as a log line may show it (no password, no query); never raises."""
    try:
        return parse_target(target, read_password=False).display
    except ConfigError as exc:
        return f"<invalid audit store target: {exc.message}>"


def _password(password_file: Path | None, environ: Mapping[str, str]) -> Secret | None:
    """File (flag, then env) beats the environment variable; None leaves it to libpq."""
    path = password_file
    if path is None and environ.get(PASSWORD_FILE_ENV):
        path = Path(environ[PASSWORD_FILE_ENV])
    if path is not None:
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_PASSWORD_BYTES + 1)
        except OSError as exc:
            raise ConfigError(
                f"cannot read the audit store password file: {exc.strerror or type(exc).__name__}",
                file=str(path),
            ) from None
        if len(raw) > MAX_PASSWORD_BYTES:
            raise ConfigError(
                f"audit store password file is longer than {MAX_PASSWORD_BYTES} bytes",
                file=str(path),
            )
        try:
            value = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise ConfigError("audit store password file is not UTF-8", file=str(path)) from None
        if not value:
            raise ConfigError("audit store password file is empty", file=str(path))
        return Secret(value)
    value = environ.get(PASSWORD_ENV, "")
    return Secret(value) if value else None
