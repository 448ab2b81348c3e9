"""`get`, the `policy` filter and the bounded `verify_head` on SQLite (same cases as PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.unit.audit import store_cases
from webhook.audit import AuditQuery, AuditStore
from webhook.audit import query as queries

DROP_GUARDS = (
    "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; "
    "DROP TRIGGER IF EXISTS audit_log_chain;"
)


def tamperer(db: Path) -> Callable[[str], None]:
    def run(sql: str) -> None:
        conn = sqlite3.connect(db)
        conn.executescript(DROP_GUARDS)
        conn.execute(sql)
        conn.commit()
        conn.close()

    return run


def test_get(store: AuditStore) -> None:
    store_cases.check_get(store)


def test_policy_filter(store: AuditStore) -> None:
    store_cases.check_policy(store)


def test_policy_filter_is_sql_not_a_scan() -> None:
    sql, params = queries.build(AuditQuery(policy="tls-required"))
    assert "json_each(audit_log.reasons)" in sql and params.count("tls-required") == 3


def test_verify_head(store: AuditStore) -> None:
    store_cases.check_verify_head(store, tamperer(store.path))


def test_verify_head_unreadable(store: AuditStore) -> None:
    store_cases.fill(store)
    store.path.write_bytes(b"not a database" * 100)
    result = store.verify_head(last=5)
    assert not result.ok and not result.readable and str(store.path) in (result.reason or "")
