"""Tampering inside PostgreSQL by a superuser who drops the triggers first: edit, delete,
reorder. `verify` (what `audit verify` runs) names the first bad seq, and an anchor catches a
chain rebuilt from scratch."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.postgres.cluster import Cluster
from tests.postgres.decisions import make_decision
from webhook.audit import open_store, verify_path
from webhook.audit.chain import Anchor
from webhook.audit.target import PostgresTarget, parse_target

DROP = (
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "DROP TRIGGER audit_log_no_truncate ON audit_log",
    "DROP TRIGGER audit_log_chain ON audit_log",
)
COLUMNS = (
    "ts, request_id, scenario, source, decision, env, dry_run, subject, reasons, warnings, "
    "audited, digests, policy_bundle, prev_hash, hash"
)


def _filled(url: str, n: int = 10) -> str:
    with open_store(url) as store:
        for i in range(1, n + 1):
            store.append(make_decision(i), source="api", dry_run=False)
        head = store.verify()
    assert head.ok and head.head_hash
    return head.head_hash


def _admin(cluster: Cluster, url: str) -> psycopg.Connection[Any]:
    target = parse_target(url)
    assert isinstance(target, PostgresTarget)
    conn = cluster.admin(dbname=target.dbname)
    for sql in DROP:
        conn.execute(sql)
    return conn


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "why"),
    [
        ("UPDATE audit_log SET decision = 'ALLOW', env = 'staging' WHERE seq = 5", 5, "hash"),
        ("DELETE FROM audit_log WHERE seq = 7", 7, "missing"),
        # reorder: records 3 and 4 swap places (each keeps its own hashes)
        (
            f"UPDATE audit_log a SET ({COLUMNS}) = (SELECT {COLUMNS} FROM audit_log b "
            "WHERE b.seq = 7 - a.seq) WHERE a.seq IN (3, 4)",
            3,
            "prev_hash",
        ),
        ("DELETE FROM audit_log WHERE seq >= 9", None, "anchor"),
    ],
)
def test_tampering_is_found_at_the_right_seq(
    pg_url: str, cluster: Cluster, tamper: str, bad_seq: int | None, why: str
) -> None:
    head = _filled(pg_url)
    with _admin(cluster, pg_url) as conn:
        conn.execute(tamper.encode())
    anchor = Anchor(10, head)
    result = verify_path(pg_url, anchor)
    assert not result.ok and result.readable
    assert result.first_bad_seq == (bad_seq if bad_seq is not None else 9)
    assert why in (result.reason or "")


def test_a_chain_rebuilt_from_genesis_fails_the_anchor(pg_url: str, cluster: Cluster) -> None:
    head = _filled(pg_url)
    with _admin(cluster, pg_url) as conn:
        conn.execute("DROP TRIGGER audit_subject_no_truncate ON audit_subject")
        conn.execute("TRUNCATE audit_log, audit_subject")
    with open_store(pg_url) as store:  # the same decisions again: a consistent, other chain
        for i in range(1, 11):
            store.append(make_decision(i), source="api", dry_run=False)
    assert verify_path(pg_url).ok  # intact on its own...
    result = verify_path(pg_url, Anchor(10, head))  # ...but not the chain written down
    assert not result.ok and result.first_bad_seq == 10
