"""Alerts: grouping by (scenario, subject, policy), P1..P4, ack and re-fire, none for dry runs."""

from __future__ import annotations

import sqlite3

import pytest

from tests.unit.audit.helpers import make_decision, reason
from webhook.audit import AlertNotFoundError, AuditStore
from webhook.audit.models import Alert
from webhook.errors import InputError


def block(
    store: AuditStore,
    i: int,
    *policies: tuple[str, str],
    env: str | None = "prod",
    app: str = "payments",
    scenario: str = "T1",
    dry_run: bool = False,
) -> None:
    reasons = tuple(reason(p, sev) for p, sev in policies)
    store.append(
        make_decision(i, verdict="BLOCK", reasons=reasons, env=env, app=app, scenario=scenario),
        source="api",
        dry_run=dry_run,
    )


def alerts(store: AuditStore, **kw: object) -> list[Alert]:
    return store.alerts.list(**kw).alerts  # type: ignore[arg-type]


def one(store: AuditStore, policy: str) -> Alert:
    (found,) = [a for a in alerts(store, limit=500) if a.policy == policy]
    return found


def test_severities(store: AuditStore) -> None:
    block(store, 1, ("snapshot-hash-mismatch", "critical"), scenario="T2", app="orders")
    block(store, 2, ("tls-required", "high"), app="payments")
    block(store, 3, ("no-public-bind", "high"), env="staging", app="payments")
    block(store, 4, ("signature-invalid", "critical"), env="staging", app="billing")
    warn = reason("weak-hash-forbidden", "medium", action="warn")
    store.append(
        make_decision(5, verdict="ALLOW", warnings=(warn,), app="shop"), source="api", dry_run=False
    )
    assert one(store, "snapshot-hash-mismatch").severity == "P1"
    assert one(store, "tls-required").severity == "P2"
    assert one(store, "no-public-bind").severity == "P3"
    assert one(store, "signature-invalid").severity == "P3"  # critical, but staging
    assert one(store, "weak-hash-forbidden").severity == "P4"
    # most urgent first
    assert [a.severity for a in alerts(store)] == ["P1", "P2", "P3", "P3", "P4"]
    p1 = one(store, "snapshot-hash-mismatch")
    assert (
        p1.scenario == "T2"
        and p1.subject_key == "source_db=orders-primary target_db=orders-replica env=prod"
    )
    assert p1.subject["source_db"] == "orders-primary" and "[snapshot-hash-mismatch]" in p1.message


def test_unknown_or_missing_env_counts_as_prod(store: AuditStore) -> None:
    block(store, 1, ("tls-required", "high"), env=None, app="a")
    block(store, 2, ("wal-integrity", "critical"), env="PROD", app="b")
    assert one(store, "tls-required").severity == "P2"
    assert one(store, "wal-integrity").severity == "P1"


def test_grouping_counts_and_last_seen(store: AuditStore) -> None:
    block(store, 1, ("tls-required", "high"), ("no-root", "high"))
    block(store, 2, ("tls-required", "high"))
    block(store, 3, ("tls-required", "high"), app="billing")  # other subject: own group
    block(store, 4, ("tls-required", "high"), scenario="T2")  # other scenario: own group
    tls = [a for a in alerts(store) if a.policy == "tls-required"]
    assert len(tls) == 3
    (payments,) = [a for a in tls if a.subject_key == "app_id=payments env=prod"]
    assert (
        payments.count == 2 and payments.last_request_id == "req-000002" and payments.last_seq == 2
    )
    assert payments.first_seen < payments.last_seen and payments.status == "firing"
    assert one(store, "no-root").count == 1


def test_a_new_version_is_the_same_group(store: AuditStore) -> None:
    d1 = make_decision(1, verdict="BLOCK", reasons=(reason("tls-required"),))
    d2 = d1.model_copy(update={"request_id": "r2", "subject": {**d1.subject, "version": "5.0.0"}})
    store.append(d1, source="api", dry_run=False)
    store.append(d2, source="api", dry_run=False)
    assert one(store, "tls-required").count == 2


def test_severity_only_escalates(store: AuditStore) -> None:
    block(store, 1, ("signature-invalid", "high"))
    block(store, 2, ("signature-invalid", "critical"))
    block(store, 3, ("signature-invalid", "high"))
    assert one(store, "signature-invalid").severity == "P1"


def test_ack_and_refire(store: AuditStore) -> None:
    block(store, 1, ("tls-required", "high"))
    alert = one(store, "tls-required")
    acked = store.alerts.ack(alert.id, "alice")
    assert acked.status == "acknowledged" and acked.acked_by == "alice" and acked.acked_at
    assert alerts(store, status="firing") == [] and len(alerts(store, status="acknowledged")) == 1
    again = store.alerts.ack(alert.id, "bob")  # no-op: keeps the first ack
    assert again.acked_by == "alice"
    block(store, 2, ("tls-required", "high"))
    fired = store.alerts.get(alert.id)
    assert fired.status == "firing" and fired.count == 2 and fired.acked_by is None
    conn = sqlite3.connect(store.path)
    events = conn.execute(
        "SELECT event, actor, request_id FROM alert_events ORDER BY id"
    ).fetchall()
    conn.close()
    assert events == [
        ("opened", None, "req-000001"),
        ("acknowledged", "alice", None),
        ("refired", None, "req-000002"),
    ]


def test_dry_run_opens_no_alert(store: AuditStore) -> None:
    block(store, 1, ("snapshot-hash-mismatch", "critical"), dry_run=True)
    warn = reason("weak-hash-forbidden", "medium", action="warn")
    store.append(make_decision(2, warnings=(warn,)), source="admission", dry_run=True)
    assert alerts(store) == []
    assert store.verify().checked == 2  # but both are audited


def test_allow_without_warnings_opens_no_alert(store: AuditStore) -> None:
    store.append(make_decision(1), source="api", dry_run=False)
    assert alerts(store) == []


def test_block_and_warning_of_the_same_policy_is_one_alert(store: AuditStore) -> None:
    d = make_decision(
        1,
        verdict="BLOCK",
        reasons=(reason("tls-required"),),
        warnings=(reason("tls-required", action="warn"), reason("no-root", action="warn")),
    )
    store.append(d, source="api", dry_run=False)
    assert {(a.policy, a.severity) for a in alerts(store)} == {
        ("tls-required", "P2"),
        ("no-root", "P4"),
    }


def test_alert_pages_cover_everything_once(store: AuditStore) -> None:
    for i in range(23):
        block(
            store,
            i,
            (f"policy-{i}", "critical" if i % 3 == 0 else "high"),
            env="staging" if i % 4 == 0 else "prod",
        )
    seen: list[Alert] = []
    cursor = None
    for _ in range(30):
        page = store.alerts.list(limit=5, cursor=cursor)
        seen += page.alerts
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 23 and len({a.id for a in seen}) == 23
    assert [a.severity for a in seen] == sorted(a.severity for a in seen)


def test_bad_inputs(store: AuditStore) -> None:
    with pytest.raises(AlertNotFoundError, match="no alert with id 42"):
        store.alerts.ack(42, "alice")
    block(store, 1, ("tls-required", "high"))
    alert_id = alerts(store)[0].id
    for who in ("", "x" * 201, "bad\nname"):
        with pytest.raises(InputError, match="who"):
            store.alerts.ack(alert_id, who)
    with pytest.raises(InputError, match="cursor"):
        store.alerts.list(cursor="not-a-cursor")
    with pytest.raises(InputError, match="limit"):
        store.alerts.list(limit=0)
    with pytest.raises(InputError, match="status"):
        store.alerts.list(status="open")  # type: ignore[arg-type]
