"""Bearer-token auth for the operator API: roles viewer (reads) and operator (validate, ack).

Token file format, one entry per line (blank lines and `#` comments ignored):

    role:sha256hex-of-token:name[:envs]   e.g. operator:9f86d0...0f00a08:ci-pipeline
                                               operator:4b1a07...d2c9e31:ci-staging:staging

`envs` (optional, comma-separated, from prod and staging) scopes what the token may validate
for: a validation request naming an env outside it is refused (403). A line without it (every
file written before scopes existed) may validate for every env. Whatever the scope, a request
that names no env is decided for prod when the scope holds prod (the strictest: a token never
gets a weaker env by saying nothing), else for the one env it is scoped to.

Only the SHA-256 of a token is stored. A presented token is hashed and compared with
`hmac.compare_digest` against *every* entry (no early exit), so timing does not reveal which
entry, if any, matched. Tokens are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from webhook.contracts.env import ENVS, Env
from webhook.errors import ConfigError
from webhook.server.devcerts import write_private

Role = Literal["viewer", "operator"]
ROLES: tuple[Role, ...] = ("viewer", "operator")
_RANK = {"viewer": 1, "operator": 2}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
MAX_TOKEN_LEN = 4096


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the token's name (never the token), its role and its env scope."""

    name: str
    role: Role
    envs: tuple[Env, ...] = ENVS

    def allows(self, needed: Role) -> bool:
        """operator implies viewer."""
        return _RANK[self.role] >= _RANK[needed]

    @property
    def default_env(self) -> Env:
        """The env of a validation that names none: prod if in scope (strictest), else the
        scope's only env."""
        return "prod" if "prod" in self.envs else self.envs[0]


def parse_envs(text: str) -> tuple[Env, ...]:
    """`prod`, `staging`, `prod,staging` -> the scope in ENVS order; ValueError says what is bad."""
    names = [n.strip() for n in text.split(",")]
    if not names or any(not n for n in names):
        raise ValueError("envs must be a comma-separated list of prod, staging (empty item)")
    for name in names:
        if name not in ENVS:
            raise ValueError(f"unknown env {name!r} in envs (expected prod and/or staging)")
    if len(set(names)) != len(names):
        raise ValueError("envs lists an env twice")
    return tuple(e for e in ENVS if e in names)


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    principal: Principal


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """The parsed token file; immutable once loaded."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = tuple(entries)

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def parse(cls, text: str, *, source: str = "token file") -> TokenStore:
        entries: list[_Entry] = []
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            where = f"line {lineno}"
            if len(parts) not in (3, 4):
                raise ConfigError("expected role:sha256hex:name[:envs]", file=source, field=where)
            role, digest, name = parts[:3]
            if role not in ROLES:
                raise ConfigError(
                    f"unknown role {role!r} (expected viewer or operator)", file=source, field=where
                )
            if not _HEX64.fullmatch(digest):
                raise ConfigError(
                    "token hash must be 64 lowercase hex (sha256 of the token)",
                    file=source,
                    field=where,
                )
            if not _NAME.fullmatch(name):
                raise ConfigError(
                    "name must be 1-64 chars of letters, digits, _ . @ -", file=source, field=where
                )
            try:
                envs = parse_envs(parts[3]) if len(parts) == 4 else ENVS
            except ValueError as exc:
                raise ConfigError(str(exc), file=source, field=where) from None
            principal = Principal(
                name=name, role="operator" if role == "operator" else "viewer", envs=envs
            )
            entries.append(_Entry(bytes.fromhex(digest), principal))
        return cls(entries)

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read token file: {exc}", file=str(path)) from exc
        return cls.parse(text, source=str(path))

    def authenticate(self, token: str) -> Principal | None:
        """The principal whose hash matches, compared against every entry in constant time."""
        if not token or len(token) > MAX_TOKEN_LEN:
            return None
        presented = hashlib.sha256(token.encode("utf-8")).digest()
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(presented, entry.digest) and found is None:
                found = entry.principal
        return found


#: the default files under the state dir, named for what they hold
HASH_FILE = "operator-tokens.sha256"  # role:sha256hex:name[:envs] lines, never a token
CLEAR_FILE = "operator-token.clear"  # the first-start operator token in clear text (0600)
#: their names before 0.2: still read for one release, and kept as links to the new files
LEGACY_HASH_FILE = "operator-token"
LEGACY_CLEAR_FILE = "operator-token.txt"


@dataclass(frozen=True, slots=True)
class TokenFiles:
    """Where the default token files are; `deprecated` is the log line when an old name is used."""

    hashes: Path
    clear: Path
    deprecated: str | None = None


def default_token_files(state_dir: Path) -> TokenFiles:
    """The state dir's token files: the new names, or a pre-0.2 hash file still in use.

    A state dir written before the rename holds a regular `operator-token` (hashes) and
    `operator-token.txt` (clear). It keeps working for one release, saying how to move on; the
    links `link_legacy_names` leaves at the old names never count as old files.
    """
    hashes, clear = state_dir / HASH_FILE, state_dir / CLEAR_FILE
    old = state_dir / LEGACY_HASH_FILE
    if hashes.exists() or old.is_symlink() or not old.is_file():
        return TokenFiles(hashes, clear)
    old_clear = state_dir / LEGACY_CLEAR_FILE
    return TokenFiles(
        old,
        old_clear if old_clear.exists() else clear,
        deprecated=(
            f"token file {old} uses its pre-0.2 name, read for one more release: rename it to "
            f"{hashes} (and {old_clear} to {clear}), or pass --token-file"
        ),
    )


def link_legacy_names(files: TokenFiles) -> None:
    """Leave the old names as relative links to the new files, for readers not yet updated
    (scripts that `cat .state/operator-token.txt`); an existing file is never touched."""
    for name, target in ((LEGACY_HASH_FILE, files.hashes), (LEGACY_CLEAR_FILE, files.clear)):
        link = target.parent / name
        if target.exists() and target.name != name and not link.exists() and not link.is_symlink():
            link.symlink_to(target.name)


def ensure_token_file(token_file: Path, token_text: Path) -> str | None:
    """First start: create an operator token, store its hash, write it in clear (0600) once.

    Returns the new token (to print once), or None if the token file already existed.
    """
    if token_file.exists():
        return None
    token = "mg_" + secrets.token_urlsafe(32)
    line = f"operator:{hash_token(token)}:operator\n"
    header = (
        "# role:sha256hex-of-token:name[:envs]  (see README.md); tokens are never stored in clear\n"
    )
    write_private(token_file, (header + line).encode())
    write_private(token_text, (token + "\n").encode())
    return token


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None
