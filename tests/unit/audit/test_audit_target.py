"""The store target: path / sqlite:/// / postgresql:// chosen by one string; the password never
shows in a repr, an error or a display string."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from webhook.audit import open_store
from webhook.audit.target import (
    PASSWORD_ENV,
    PASSWORD_FILE_ENV,
    PostgresTarget,
    SqliteTarget,
    display_target,
    parse_target,
)
from webhook.errors import ConfigError
from webhook.server.settings import ServerSettings

SECRET = "s3cr3t-Pa55-xyzzy"


def test_path_and_sqlite_urls_are_sqlite(tmp_path: Path) -> None:
    assert parse_target(tmp_path / "a.db") == SqliteTarget(tmp_path / "a.db")
    assert parse_target("rel/a.db") == SqliteTarget(Path("rel/a.db"))
    assert parse_target("sqlite:///rel/a.db") == SqliteTarget(Path("rel/a.db"))
    assert parse_target("sqlite:////abs/a.db") == SqliteTarget(Path("/abs/a.db"))
    with pytest.raises(ConfigError, match="no host"):
        parse_target("sqlite://host/a.db")


def test_open_store_by_sqlite_url_is_todays_store(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with open_store(f"sqlite:///{db}") as store:
        assert store.location == str(db)
    assert db.is_file()


def test_postgres_url_parts_and_unix_socket() -> None:
    t = parse_target("postgresql://gate@db.example:6543/audit?sslmode=require", environ={})
    assert isinstance(t, PostgresTarget)
    assert (t.host, t.port, t.dbname, t.user) == ("db.example", 6543, "audit", "gate")
    assert t.connect_kwargs()["sslmode"] == "require"
    assert t.display == "postgresql://gate@db.example:6543/audit"
    sock = parse_target("postgresql://gate@/audit?host=/run/pg&port=5433", environ={})
    assert isinstance(sock, PostgresTarget)
    assert (sock.host, sock.port) == ("/run/pg", 5433)
    # a URL folded by Path() (double slash collapsed) is read back as the URL it was
    folded = parse_target(
        Path("postgresql://gate@db.example:6543/audit?sslmode=require"), environ={}
    )
    assert folded == t


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://gate:{SECRET}@db/audit",
        f"postgresql://gate@db/audit?password={SECRET}",
        f"postgresql://gate@db/audit?passfile=/x&x={SECRET}",
        "postgresql://gate@db/",
        "mysql://gate@db/audit",
    ],
)
def test_bad_urls_are_refused_without_echoing_a_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_target(url, environ={})
    assert SECRET not in info.value.diagnostics()
    assert SECRET not in display_target(url)


def test_password_from_file_beats_env_and_never_prints(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    env = {PASSWORD_FILE_ENV: str(pw), PASSWORD_ENV: "other"}
    t = parse_target("postgresql://gate@db/audit", environ=env)
    assert isinstance(t, PostgresTarget) and t.password is not None
    assert t.password.reveal() == SECRET
    assert t.connect_kwargs()["password"] == SECRET
    for text in (repr(t), str(t), repr(t.password), str(t.password), t.display):
        assert SECRET not in text
    only_env = parse_target("postgresql://gate@db/audit", environ={PASSWORD_ENV: SECRET})
    assert isinstance(only_env, PostgresTarget) and only_env.password is not None
    assert only_env.password.reveal() == SECRET
    none = parse_target("postgresql://gate@db/audit", environ={})
    assert isinstance(none, PostgresTarget) and none.password is None


def test_unreadable_or_empty_password_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        parse_target("postgresql://g@db/a", environ={PASSWORD_FILE_ENV: str(tmp_path / "no")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        parse_target("postgresql://g@db/a", password_file=tmp_path / "empty", environ={})
    (tmp_path / "big").write_bytes(b"x" * 5000)
    with pytest.raises(ConfigError, match="longer"):
        parse_target("postgresql://g@db/a", password_file=tmp_path / "big", environ={})


def test_settings_pass_the_raw_string_through() -> None:
    args = argparse.Namespace(audit_db="postgresql://gate@db:5432/audit")
    s = ServerSettings.from_args(args, environ={})
    assert s.audit_target == "postgresql://gate@db:5432/audit"
    env = {
        "MIGRATION_GATE_AUDIT_DB": "sqlite:///x.db",
        "MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE": "/run/secrets/pw",
    }
    s = ServerSettings.from_args(argparse.Namespace(), environ=env)
    assert s.audit_target == "sqlite:///x.db"
    assert s.audit_db_password_file == Path("/run/secrets/pw")
    assert ServerSettings.from_args(argparse.Namespace(), environ={}).audit_target == Path(
        ".state/audit.db"
    )
