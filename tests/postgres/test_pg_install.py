"""`python -m webhook.audit.pg install`, what a DBA runs: as a non-superuser owner, and each
common mistake refused (exit 2) with an error that names it and never shows a password."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.postgres.cluster import ADMIN_PW, WRITER, WRITER_PW, Cluster
from webhook.audit import open_store
from webhook.audit.target import PASSWORD_ENV

OWNER_PW = "own3r-pw-4-tests-QUUX"


def install(
    cluster: Cluster, tmp: Path, user: str, db: str, password: str, *extra: str
) -> tuple[int, str]:
    pw = tmp / f"pw-{uuid.uuid4().hex[:6]}"
    pw.write_text(password + "\n")
    env = {"MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE": str(pw), "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-m", "webhook.audit.pg", "install", "--admin-url",
            cluster.url(user=user, dbname=db), *extra]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    out = done.stdout + done.stderr
    for secret in (password, ADMIN_PW, WRITER_PW, OWNER_PW):
        assert secret not in out
    return done.returncode, out


@pytest.fixture
def owned(cluster: Cluster) -> tuple[str, str]:
    """A database owned by a plain (non-superuser) role, as a DBA would set it up."""
    owner, db = "own_" + uuid.uuid4().hex[:8], "d_" + uuid.uuid4().hex[:8]
    with cluster.admin(dbname="postgres") as conn:
        conn.execute(f"CREATE ROLE {owner} LOGIN PASSWORD '{OWNER_PW}'".encode())
        conn.execute(f"CREATE DATABASE {db} OWNER {owner}".encode())
    with cluster.admin(dbname=db) as conn:
        conn.execute(f"ALTER SCHEMA public OWNER TO {owner}".encode())  # docs/postgresql.md
        conn.execute(b"REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    return owner, db


def test_owner_installs_and_the_gate_runs_as_the_writer(
    cluster: Cluster, tmp_path: Path, owned: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, db = owned
    code, out = install(cluster, tmp_path, owner, db, OWNER_PW, "--writer-role", WRITER)
    assert code == 0 and "created or migrated" in out, out
    monkeypatch.setenv(PASSWORD_ENV, WRITER_PW)
    with open_store(cluster.url(dbname=db)) as store:
        store.check_writable()
    assert install(cluster, tmp_path, owner, db, OWNER_PW, "--writer-role", WRITER)[0] == 0


def test_mistakes_are_named(cluster: Cluster, tmp_path: Path, owned: tuple[str, str]) -> None:
    owner, db = owned
    code, out = install(cluster, tmp_path, owner, db, "wrong-pw")
    assert code == 2 and "password authentication failed" in out
    assert "MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE" in out
    code, out = install(cluster, tmp_path, owner, db, OWNER_PW, "--writer-role", "no_such_role")
    assert code == 2 and "'no_such_role' does not exist" in out and "CREATE ROLE" in out
    # the gate's role must not be the owner: it could drop the triggers
    code, out = install(cluster, tmp_path, owner, db, OWNER_PW, "--writer-role", owner)
    assert code == 2 and f"role '{owner}' owns" in out and "INSERT/SELECT-only" in out, out
    # a role that does not own the tables: its GRANT only warns; install says so
    assert install(cluster, tmp_path, owner, db, OWNER_PW, "--writer-role", WRITER)[0] == 0
    fresh = "gate_" + uuid.uuid4().hex[:6]
    with cluster.admin(dbname="postgres") as conn:
        conn.execute(f"CREATE ROLE {fresh} LOGIN".encode())
    code, out = install(cluster, tmp_path, WRITER, db, WRITER_PW, "--writer-role", fresh)
    assert code == 2 and f"role '{fresh}' lacks INSERT on audit_log" in out, out
    assert "owns the audit tables" in out


def test_a_role_that_may_not_create_is_told_to_use_the_owner(
    cluster: Cluster, tmp_path: Path, owned: tuple[str, str]
) -> None:
    _, db = owned
    code, out = install(cluster, tmp_path, WRITER, db, WRITER_PW)
    assert code == 2 and "permission denied" in out and "owns the audit tables" in out, out
