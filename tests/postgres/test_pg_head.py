"""`get`, the `policy` filter and the bounded `verify_head` on a real PostgreSQL: the same cases
as SQLite (tests/unit/audit/store_cases.py), tampering as a superuser who dropped the triggers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.postgres.cluster import Cluster
from tests.unit.audit import store_cases
from webhook.audit import AuditQuery, open_store
from webhook.audit import query as queries
from webhook.audit.pg.store import PostgresStore
from webhook.audit.target import PostgresTarget, parse_target

DROP = (
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP TRIGGER IF EXISTS audit_log_chain ON audit_log",
)


@pytest.fixture
def store(pg_url: str) -> Iterator[PostgresStore]:
    s = open_store(pg_url)
    assert isinstance(s, PostgresStore)
    yield s
    s.close()


def tamperer(cluster: Cluster, url: str) -> Callable[[str], None]:
    target = parse_target(url)
    assert isinstance(target, PostgresTarget)

    def run(sql: str) -> None:
        with cluster.admin(dbname=target.dbname) as conn:
            for drop in DROP:
                conn.execute(drop)
            conn.execute(sql.encode())

    return run


def test_get(store: PostgresStore) -> None:
    store_cases.check_get(store)


def test_policy_filter(store: PostgresStore) -> None:
    store_cases.check_policy(store)


def test_policy_filter_is_sql_not_a_scan() -> None:
    sql, params = queries.build(AuditQuery(policy="tls-required"), "postgresql")
    assert "reasons::jsonb @> ?::jsonb" in sql and params[0] == '[{"policy": "tls-required"}]'


def test_verify_head(store: PostgresStore, cluster: Cluster, pg_url: str) -> None:
    store_cases.check_verify_head(store, tamperer(cluster, pg_url))


def test_verify_head_unreachable(store: PostgresStore, cluster: Cluster, pg_url: str) -> None:
    store_cases.fill(store)
    target = parse_target(pg_url)
    assert isinstance(target, PostgresTarget)
    with cluster.admin(dbname=target.dbname) as conn:
        conn.execute("REVOKE SELECT ON audit_log FROM PUBLIC")
        conn.execute(f"REVOKE SELECT ON audit_log FROM {target.user}".encode())
    result = store.verify_head(last=5)
    assert not result.ok and not result.readable and "permission denied" in (result.reason or "")
    assert target.display in (result.reason or "")
