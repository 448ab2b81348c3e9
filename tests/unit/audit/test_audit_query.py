"""Queries: every filter, newest first, keyset pages that cover each record exactly once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tests.unit.audit.helpers import RunCli, make_decision, reason
from webhook.audit import AuditQuery, AuditRecord, AuditStore
from webhook.audit import query as queries
from webhook.errors import InputError


@pytest.fixture
def mixed(store: AuditStore) -> AuditStore:
    """60 records: T1/T2, ALLOW/BLOCK, prod/staging, 3 apps, some dry runs, all sources."""
    sources = ("admission", "api", "ui", "cli")
    for i in range(1, 61):
        verdict = "BLOCK" if i % 3 == 0 else "ALLOW"
        d = make_decision(
            i,
            verdict=verdict,
            reasons=(reason("tls-required"),) if verdict == "BLOCK" else (),
            env="staging" if i % 2 else "prod",
            app=f"app{i % 3}",
            scenario="T2" if i % 5 == 0 else "T1",
        )
        store.append(d, source=sources[i % 4], dry_run=i % 7 == 0)  # type: ignore[arg-type]
    return store


def all_pages(store: AuditStore, **filters: object) -> list[AuditRecord]:
    out: list[AuditRecord] = []
    cursor = None
    for _ in range(100):
        page = store.query(AuditQuery(cursor=cursor, **filters))  # type: ignore[arg-type]
        out += page.records
        cursor = page.next_cursor
        if cursor is None:
            return out
    raise AssertionError("pagination did not end")


def test_pages_cover_everything_once_newest_first(mixed: AuditStore) -> None:
    for limit in (1, 7, 60, 500):
        seqs = [r.seq for r in all_pages(mixed, limit=limit)]
        assert seqs == list(range(60, 0, -1)), limit
    assert mixed.query(AuditQuery(limit=60)).next_cursor is None
    assert mixed.query(AuditQuery(limit=59)).next_cursor is not None


def test_default_and_bounds() -> None:
    assert AuditQuery().limit == 50
    for bad in (0, 501):
        with pytest.raises(ValidationError):
            AuditQuery(limit=bad)


@pytest.mark.parametrize(
    ("filters", "predicate"),
    [
        ({"scenario": "T2"}, lambda r: r.scenario == "T2"),
        ({"decision": "BLOCK"}, lambda r: r.decision == "BLOCK"),
        ({"source": "ui"}, lambda r: r.source == "ui"),
        ({"env": "staging"}, lambda r: r.env == "staging"),
        ({"dry_run": True}, lambda r: r.dry_run),
        ({"dry_run": False}, lambda r: not r.dry_run),
        ({"subject": "app1"}, lambda r: r.subject.get("app_id") == "app1"),
        ({"subject": "app2-replica"}, lambda r: r.subject.get("target_db") == "app2-replica"),
        ({"request_id": "req-000042"}, lambda r: r.request_id == "req-000042"),
        (
            {"decision": "BLOCK", "env": "prod", "scenario": "T1"},
            lambda r: r.decision == "BLOCK" and r.env == "prod" and r.scenario == "T1",
        ),
    ],
)
def test_filters(mixed: AuditStore, filters: dict[str, object], predicate: object) -> None:
    everything = all_pages(mixed, limit=500)
    expected = [r.seq for r in everything if predicate(r)]  # type: ignore[operator]
    assert expected, "the fixture must contain matches"
    assert [r.seq for r in all_pages(mixed, limit=4, **filters)] == expected


def test_subject_filter_is_exact(mixed: AuditStore) -> None:
    assert mixed.query(AuditQuery(subject="app")).records == []
    assert mixed.query(AuditQuery(subject="prod")).records == []  # env is its own filter


def test_time_range(mixed: AuditStore) -> None:
    records = all_pages(mixed, limit=500)
    mid = records[30]  # seq 30
    since = datetime.fromisoformat(mid.ts.replace("Z", "+00:00"))
    got = all_pages(mixed, since=since, limit=10)
    assert [r.seq for r in got] == [r.seq for r in records if r.ts >= mid.ts]
    until = all_pages(mixed, until=since, limit=10)
    assert [r.seq for r in until] == [r.seq for r in records if r.ts < mid.ts]
    future = datetime.now(UTC) + timedelta(days=1)
    assert mixed.query(AuditQuery(since=future)).records == []


def test_bad_cursors(mixed: AuditStore) -> None:
    alerts_cursor = mixed.alerts.list(limit=1).next_cursor
    for bad in ("garbage", "cmVjb3JkczphYmM", alerts_cursor or "x"):
        with pytest.raises(InputError, match="cursor"):
            mixed.query(AuditQuery(cursor=bad))


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({"request_id": "req-1"}, "audit_log_request_id"),
        ({"subject": "app1"}, "audit_subject"),
        ({"decision": "BLOCK"}, "audit_log_decision"),
        (
            {"since": datetime(2026, 1, 1, tzinfo=UTC), "until": datetime(2026, 1, 2, tzinfo=UTC)},
            "audit_log_ts",
        ),
    ],
)
def test_selective_filters_use_an_index(
    mixed: AuditStore, filters: dict[str, object], index: str
) -> None:
    sql, params = queries.build(AuditQuery(**filters))  # type: ignore[arg-type]
    conn = sqlite3.connect(mixed.path)
    conn.execute("ANALYZE")
    plan = " | ".join(row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    conn.close()
    assert index in plan, plan
    assert "OFFSET" not in sql


def test_tail_cli(mixed: AuditStore, run_cli: RunCli) -> None:
    code, out, _ = run_cli("audit", "tail", "--audit-db", str(mixed.path), "-n", "5")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 5
    assert [int(line.split()[0]) for line in lines] == [
        56,
        57,
        58,
        59,
        60,
    ]  # oldest..newest, like tail
    code, out, _ = run_cli(
        "audit",
        "tail",
        "--audit-db",
        str(mixed.path),
        "--decision",
        "BLOCK",
        "--subject",
        "app0",
        "--output",
        "json",
        "-n",
        "500",
    )
    import json

    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and rows
    assert all(r["decision"] == "BLOCK" and r["subject"]["app_id"] == "app0" for r in rows)
    assert set(rows[0]) == set(AuditRecord.model_fields)


def test_tail_follow_is_bounded(mixed: AuditStore, run_cli: RunCli) -> None:
    code, out, _ = run_cli(
        "audit", "tail", "--audit-db", str(mixed.path), "-n", "1", "--follow", "--follow-for", "0.2"
    )
    assert code == 0 and len(out.splitlines()) == 1


def test_tail_bad_usage(
    tmp_path: object, run_cli: RunCli, mixed: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_cli("audit", "tail", "--audit-db", str(mixed.path), "-n", "0")
    assert code == 2 and "-n must be 1..500" in err
    code, _, err = run_cli("audit", "tail", "--audit-db", str(mixed.path) + ".missing")
    assert code == 2 and "no audit store" in err
    monkeypatch.delenv("MIGRATION_GATE_AUDIT_DB", raising=False)
    code, _, err = run_cli("audit", "tail")
    assert code == 2 and "MIGRATION_GATE_AUDIT_DB" in err


def test_audit_db_from_environment(
    mixed: AuditStore, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATION_GATE_AUDIT_DB", str(mixed.path))
    code, out, _ = run_cli("audit", "verify")
    assert code == 0 and "60 records" in out


def test_tail_text_escapes_control_characters(store: AuditStore, run_cli: RunCli) -> None:
    evil = make_decision(1).model_copy(update={"request_id": "r\x1b[2J\x07-1"})
    store.append(evil, source="api", dry_run=False)
    code, out, _ = run_cli("audit", "tail", "--audit-db", str(store.path))
    assert code == 0 and "\x1b" not in out and "\\x1b[2J\\x07-1" in out
