"""The postgres level: one real cluster per session (initdb + pg_ctl, unprivileged), a fresh
database per test with the schema installed by the owner and the gate's role granted.

Without PostgreSQL's binaries the level skips, except under CI=true or MG_POSTGRES_REQUIRED=1,
where it FAILS (run tools/postgres/install.sh, or `make test-postgres`, which does).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres.cluster import ADMIN, ADMIN_PW, WRITER, WRITER_PW, Cluster, find_bin
from webhook.audit.pg.store import install
from webhook.audit.target import PASSWORD_ENV


def required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get(
        "MG_POSTGRES_REQUIRED", ""
    ) in ("1", "true")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs a real PostgreSQL (tests/postgres)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/postgres" in str(item.fspath):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    binary = find_bin()
    if binary is None:
        message = "PostgreSQL server binaries not found: run tools/postgres/install.sh"
        if required():
            pytest.fail(message + " (required: CI=true or MG_POSTGRES_REQUIRED=1)")
        pytest.skip(message)
    c = Cluster(binary)
    try:
        c.init()
        yield c
    finally:
        c.destroy()


@pytest.fixture
def writer_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate's role's password, as the gate gets it (here from the environment)."""
    monkeypatch.setenv(PASSWORD_ENV, WRITER_PW)


def fresh_database(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new database: schema installed by the owner, the writer role granted; its URL."""
    name = "t_" + uuid.uuid4().hex[:12]
    cluster.new_database(name)
    monkeypatch.setenv(PASSWORD_ENV, ADMIN_PW)
    install(cluster.url(user=ADMIN, dbname=name), writer_role=WRITER)
    monkeypatch.setenv(PASSWORD_ENV, WRITER_PW)
    return cluster.url(dbname=name)


@pytest.fixture
def pg_url(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> str:
    return fresh_database(cluster, monkeypatch)


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit-db-password"
    path.write_text(WRITER_PW + "\n")
    path.chmod(0o600)
    return path
