"""Store API cases both backends must pass alike: `get`, the `policy` filter, `verify_head`.

Run by tests/unit/audit/test_audit_head.py (SQLite) and tests/postgres/test_pg_head.py
(a real PostgreSQL). `Tamper` runs one SQL statement (literal values, no parameters) as
someone who dropped the append-only triggers first.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from webhook.audit import AuditQuery, AuditRecord, AuditStore
from webhook.audit.chain import Anchor
from webhook.contracts.decision import Decision, Reason

Tamper = Callable[[str], None]
N = 20


def _reason(policy: str, action: str = "enforce") -> Reason:
    return Reason.model_validate(
        {
            "policy": policy,
            "severity": "high",
            "field": "tls.enabled",
            "message": f"{policy} violated (found false)",
            "file": "app-config.yaml",
            "action": action,
        }
    )


def decision(i: int) -> Decision:
    """Every 3rd BLOCKs on tls-required, every 4th warns on image-pinned, seq 7 names both."""
    reasons = (_reason("tls-required"),) if i % 3 == 0 else ()
    warnings = (_reason("image-pinned", "warn"),) if i % 4 == 0 or i == 7 else ()
    if i == 7:
        reasons = (_reason("tls-required"), _reason("image-pinned"))
    return Decision.model_validate(
        {
            "request_id": f"req-{i:06d}",
            "timestamp": "2026-11-25T12:00:00Z",
            "scenario": "T1",
            "decision": "BLOCK" if reasons else "ALLOW",
            "reasons": reasons,
            "warnings": warnings,
            "subject": {"app_id": "payments", "version": "4.2.0", "env": "prod"},
            "digests": {"app-config.yaml": "sha256:" + "ab" * 32},
            "policy_bundle": "sha256:" + "cd" * 32,
        }
    )


def fill(store: AuditStore) -> list[AuditRecord]:
    return [store.append(decision(i), source="api", dry_run=False) for i in range(1, N + 1)]


def _names(record: AuditRecord, policy: str) -> bool:
    return any(r.policy == policy for r in (*record.reasons, *record.warnings, *record.audited))


def _pages(store: AuditStore, **filters: object) -> list[int]:
    seqs: list[int] = []
    cursor = None
    for _ in range(50):
        page = store.query(AuditQuery(cursor=cursor, limit=3, **filters))  # type: ignore[arg-type]
        seqs += [r.seq for r in page.records]
        cursor = page.next_cursor
        if cursor is None:
            return seqs
    raise AssertionError("pagination did not end")


def check_get(store: AuditStore) -> None:
    written = fill(store)
    for want in (written[0], written[6], written[-1]):
        got = store.get(want.seq)
        assert got is not None
        assert got.model_dump(mode="json") == want.model_dump(mode="json")
    assert store.get(N + 1) is None
    assert store.get(2**63 - 1) is None
    for bad in (0, -1, 2**63):
        with pytest.raises(ValueError, match="seq"):
            store.get(bad)


def check_policy(store: AuditStore) -> None:
    written = fill(store)
    for policy in ("tls-required", "image-pinned"):
        expected = [r.seq for r in reversed(written) if _names(r, policy)]
        assert expected
        assert _pages(store, policy=policy) == expected, policy
    both = _pages(store, policy="image-pinned", decision="BLOCK")
    assert both == [r.seq for r in reversed(written) if _names(r, "image-pinned") and r.reasons]
    assert 7 in both  # in reasons and in warnings: one match, not two
    assert _pages(store, policy="tls") == []  # exact id, not a prefix
    assert _pages(store, policy='x"}]') == []  # JSON metacharacters are only a value


def check_verify_head(store: AuditStore, tamper: Tamper) -> None:
    empty = store.verify_head(last=5)
    assert empty.ok and empty.checked == 0 and empty.head_seq is None
    assert not store.verify_head(last=5, anchor=Anchor(1)).ok
    written = fill(store)
    full = store.verify()
    for last, checked in ((1, 1), (5, 5), (N, N), (1000, N)):
        result = store.verify_head(last=last)
        assert result.ok and result.readable, result
        assert result.checked == checked
        assert (result.head_seq, result.head_hash) == (N, full.head_hash)
    for bad in (0, -3, 10**9):
        with pytest.raises(ValueError, match="last"):
            store.verify_head(last=bad)
    assert store.verify_head(last=5, anchor=Anchor(3, written[2].hash)).ok
    below = store.verify_head(last=5, anchor=Anchor(3, "0" * 64))
    assert not below.ok and below.first_bad_seq == 3 and "anchor" in (below.reason or "")
    beyond = store.verify_head(last=5, anchor=Anchor(N + 2))
    assert not beyond.ok and "anchor" in (beyond.reason or "")
    # an edit behind the window: the bounded check does not see it, the anchor and verify do
    tamper("UPDATE audit_log SET env = 'staging' WHERE seq = 3")
    assert store.verify_head(last=5).ok
    assert not store.verify().ok
    anchored = store.verify_head(last=5, anchor=Anchor(3))
    assert not anchored.ok and anchored.first_bad_seq == 3 and "mismatch" in str(anchored.reason)
    # an edit inside the window, and the record just before it removed
    tamper("UPDATE audit_log SET decision = 'ALLOW' WHERE seq = 18")
    inside = store.verify_head(last=5)
    assert not inside.ok and inside.readable and inside.first_bad_seq == 18
    assert "hash mismatch" in (inside.reason or "") and inside.checked == 2  # 16, 17
    tamper("DELETE FROM audit_log WHERE seq = 15")
    gone = store.verify_head(last=5)
    assert not gone.ok and gone.first_bad_seq == 15 and "missing" in (gone.reason or "")
    tamper("DELETE FROM audit_log WHERE seq = 17")
    gap = store.verify_head(last=4)
    assert not gap.ok and gap.first_bad_seq == 17 and "missing" in (gap.reason or "")
