"""A request cannot choose to leave the chain (issue 11, item 6).

Whatever a requester sends (thousands of WAL files, lone surrogates, NUL bytes, a 1 MB request
id, non-str subject values), its decision gets a chained, verifiable record under the size
limit; the audit-failure hook (the critical alert) does not fire; the stdout line is strict JSON
(UTF-8-encodable once parsed); and one hostile record never fails the honest records committed
in the same batch. These tests use only the public API, so they ran (and failed) on the code
before the fix.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from typing import Any

import pytest

from tests.unit.audit.helpers import make_decision, reason
from tests.unit.audit.test_audit_failclosed import Hooks, record
from webhook.audit import AUDIT_WRITE_FAILED, AuditQuery, AuditStore
from webhook.audit.canonical import canonical_json
from webhook.audit.encode import MAX_RECORD_BYTES, Encoder, build_static
from webhook.audit.record import record_decision_async
from webhook.contracts.decision import Decision, Reason


def wal_reasons(count: int) -> tuple[Reason, ...]:
    return tuple(
        Reason(
            policy="wal-integrity",
            severity="critical",
            field=f"wal_files[{i}]",
            message=f"WAL file 0000000100000000000000{i:02X} is listed but not in the archive",
            file="replication.yaml",
        )
        for i in range(count)
    )


def strict_json(line: str) -> dict[str, Any]:
    """Parse a line as a strict consumer would: JSON, and every string valid Unicode."""
    value = json.loads(line)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # a lone surrogate raises here
    assert isinstance(value, dict)
    return value


def stored_ok(store: AuditStore, hooks: Hooks, result: Decision, verdict: str) -> dict[str, Any]:
    """The decision kept its verdict, was chained, verifies, and its line is the stored record."""
    assert result.decision == verdict
    assert AUDIT_WRITE_FAILED not in result.policy_ids()
    assert hooks.failures == 0  # the audit-failure alert did not fire
    check = store.verify()
    assert check.ok and check.checked >= 1, check
    line = hooks.lines[-1]
    assert line["seq"] == check.head_seq and line["hash"] == check.head_hash
    text = canonical_json(line)
    assert len(text) < MAX_RECORD_BYTES
    strict_json(text)
    (stored,) = store.query(AuditQuery(limit=1)).records  # the read path validates the record
    assert stored.model_dump(mode="json") == line
    return line


def test_ten_thousand_wal_reasons_get_a_bounded_chained_record(store: AuditStore) -> None:
    reasons = wal_reasons(10_000)
    decision = make_decision(1, verdict="BLOCK", reasons=reasons, scenario="T2")
    hooks = Hooks()
    result = record(store, decision, hooks)
    line = stored_ok(store, hooks, result, "BLOCK")
    assert result.reasons == reasons  # the door still answers with every reason
    kept, summary = line["reasons"][:-1], line["reasons"][-1]
    assert 1 <= len(kept) <= 100
    assert kept == [r.model_dump(mode="json") for r in reasons[: len(kept)]]
    omitted = 10_000 - len(kept)
    assert summary["policy"] == "audit-reasons-omitted" and summary["field"] == "reasons"
    assert summary["severity"] == "critical" and summary["action"] == "enforce"
    assert summary["message"].startswith(f"and {omitted} more reasons not kept")
    assert f"wal-integrity x{omitted}" in summary["message"]
    everything = canonical_json([r.model_dump(mode="json") for r in reasons])
    assert f"sha256:{hashlib.sha256(everything.encode('ascii')).hexdigest()}" in summary["message"]
    # the alert counts the decision once, with a short message
    (alert,) = store.alerts.list().alerts
    assert alert.policy == "wal-integrity" and alert.count == 1 and alert.severity == "P1"
    assert len(alert.message) <= 4096 and alert.message.endswith(f"and {10_000 - 10} more")


def test_huge_warnings_audited_and_digests_are_bounded_too(store: AuditStore) -> None:
    many = tuple(reason(f"p{i % 7}", action="warn") for i in range(20_000))
    digests = {f"wal/{i:08d}": "sha256:" + f"{i:064x}" for i in range(50_000)}
    decision = make_decision(1).model_copy(
        update={"warnings": many, "audited": many, "digests": digests}
    )
    hooks = Hooks()
    line = stored_ok(store, hooks, record(store, decision, hooks), "ALLOW")
    assert line["warnings"][-1]["policy"] == "audit-reasons-omitted"
    assert line["warnings"][-1]["action"] == "warn"
    assert line["audited"][-1]["field"] == "audited"
    assert line["digests"]["(omitted)"].endswith(f"of {len(digests)} entries not kept")
    full = hashlib.sha256(canonical_json(digests).encode("ascii")).hexdigest()
    assert line["digests"]["(all)"] == f"sha256:{full}"


LONE = "\ud800"

HOSTILE: dict[str, dict[str, object]] = {
    "surrogate request id": {"request_id": f"uid-{LONE}-x"},
    "surrogate subject value": {"subject": {"app_id": f"pay{LONE}", "env": "prod"}},
    "surrogate subject key": {"subject": {f"app{LONE}": "x", "env": "prod"}},
    "surrogate env": {"subject": {"app_id": "payments", "env": f"pr{LONE}od"}},
    "surrogate digest": {"digests": {f"a{LONE}.yaml": f"sha256:{LONE}"}},
    "NUL bytes": {"request_id": "a\x00b", "subject": {"app_id": "a\x00b", "env": "prod"}},
    "huge request id": {"request_id": "r" * 1_000_000},
    "huge subject value": {"subject": {"app_id": "p" * 1_000_000, "env": "prod"}},
    "many subject keys": {"subject": {f"k{i}": "v" * 200 for i in range(10_000)}},
    "int and None subject values": {"subject": {"app_id": 5, "version": None, "env": "prod"}},
    "nested subject value": {"subject": {"app_id": {"a": [1, 2]}, "env": "prod"}},
    "non-str subject key": {"subject": {1: "x", "env": "prod"}},
    "policy bundle": {"policy_bundle": f"{LONE}" * 100_000},
}


def _hostile(update: dict[str, object], i: int) -> Decision:
    reasons = (reason("tls-required"),)
    return make_decision(i, verdict="BLOCK", reasons=reasons).model_copy(update=update)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_values_never_make_the_write_fail(store: AuditStore, name: str) -> None:
    hooks = Hooks()
    result = record(store, _hostile(HOSTILE[name], 1), hooks)
    line = stored_ok(store, hooks, result, "BLOCK")
    assert len(line["request_id"]) <= 256
    assert all(len(k) <= 64 and len(v) <= 256 for k, v in line["subject"].items())
    assert store.alerts.list().alerts  # the BLOCK's alert was written too


@pytest.mark.parametrize(
    "message", [f"bad {LONE} value", "x" * 2_000_000, "\x00\x1b[31m\u2028 \U0001f600"]
)
def test_hostile_reason_text_never_makes_the_write_fail(store: AuditStore, message: str) -> None:
    bad = Reason.model_construct(
        policy="no-inline-secrets", severity="high", field=f"env[{LONE}]", message=message
    )
    hooks = Hooks()
    result = record(store, make_decision(1, verdict="BLOCK", reasons=(bad,)), hooks)
    line = stored_ok(store, hooks, result, "BLOCK")
    assert len(line["reasons"][0]["message"]) <= 2048


def test_hostile_values_through_the_async_path(store: AuditStore) -> None:
    lines: list[str] = []
    failures: list[int] = []

    async def run() -> list[Decision]:
        return list(
            await asyncio.gather(
                *(
                    record_decision_async(
                        store,
                        _hostile(update, i),
                        source="admission",
                        dry_run=False,
                        emit=lines.append,
                        on_write_failure=lambda: failures.append(1),
                    )
                    for i, update in enumerate(HOSTILE.values())
                )
            )
        )

    results = asyncio.run(run())
    assert [r.decision for r in results] == ["BLOCK"] * len(HOSTILE)
    assert not failures and all(AUDIT_WRITE_FAILED not in r.policy_ids() for r in results)
    assert store.verify().checked == len(HOSTILE)
    assert [strict_json(line)["seq"] for line in lines] == list(range(1, len(HOSTILE) + 1))


def test_a_hostile_record_does_not_fail_the_honest_ones_in_its_batch(store: AuditStore) -> None:
    """One transaction per batch: before the fix, one lone surrogate failed every record in it."""

    async def run() -> list[Decision]:
        honest = [make_decision(i) for i in range(1, 20)]
        hostile = make_decision(99).model_copy(update={"request_id": f"uid{LONE}"})
        return list(
            await asyncio.gather(
                *(
                    record_decision_async(store, d, source="admission", dry_run=False)
                    for d in [*honest[:10], hostile, *honest[10:]]
                )
            )
        )

    results = asyncio.run(run())
    assert all(r.decision == "ALLOW" for r in results)
    assert store.verify().checked == 20


def test_a_huge_request_id_is_kept_queryable_and_distinct(store: AuditStore) -> None:
    a, b = "r" * 500_000 + "a", "r" * 500_000 + "b"
    for rid in (a, b):
        store.append(
            make_decision(1).model_copy(update={"request_id": rid}), source="api", dry_run=False
        )
    records = store.query(AuditQuery()).records
    ids = {r.request_id for r in records}
    assert len(ids) == 2 and all(len(i) <= 256 and "500001 chars, sha256:" in i for i in ids)
    one = records[0].request_id
    assert [r.request_id for r in store.query(AuditQuery(request_id=one)).records] == [one]


def test_nul_bytes_round_trip_unchanged(store: AuditStore) -> None:
    decision = make_decision(1).model_copy(
        update={"request_id": "a\x00b", "subject": {"app_id": "x\x00y", "env": "prod"}}
    )
    store.append(decision, source="api", dry_run=False)
    (stored,) = store.query(AuditQuery()).records
    assert stored.request_id == "a\x00b" and stored.subject["app_id"] == "x\x00y"
    assert [r.seq for r in store.query(AuditQuery(subject="x\x00y")).records] == [1]


def test_a_failed_write_still_emits_a_bounded_strict_line(store: AuditStore) -> None:
    store.close()
    hooks = Hooks()
    huge = _hostile({"request_id": "r" * 1_000_000 + LONE, "reasons": wal_reasons(10_000)}, 1)
    result = record(store, huge, hooks)
    assert result.decision == "BLOCK" and hooks.failures == 1  # a real store failure: alert
    (line,) = hooks.lines
    text = canonical_json(line)
    assert line["seq"] is None and len(text) < MAX_RECORD_BYTES
    strict_json(text)


def test_log_lines_escape_and_cap_the_request_id(
    store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.close()
    rid = "evil\nAUDIT WRITE FAILED for request forged" + "x" * 100_000
    with caplog.at_level(logging.ERROR, logger="webhook.audit"):
        record(store, make_decision(1).model_copy(update={"request_id": rid}), Hooks())
    (message,) = [r.getMessage() for r in caplog.records if "AUDIT WRITE FAILED" in r.getMessage()]
    assert "\n" not in message and "evil\\nAUDIT" in message and len(message) < 1000


def test_a_large_decision_is_encoded_off_the_event_loop(
    store: AuditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounding 10,000 reasons is tens of ms of CPU: not on the loop that serves every door."""
    threads: list[int] = []
    original = Encoder.prepare

    def spy(self: Encoder, decision: Decision, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(self, decision, **kwargs)

    monkeypatch.setattr(Encoder, "prepare", spy)

    async def run() -> int:
        large = make_decision(1, verdict="BLOCK", reasons=wal_reasons(10_000))
        await record_decision_async(store, make_decision(2), source="api", dry_run=False)
        await record_decision_async(store, large, source="api", dry_run=False)
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert threads[0] == loop_thread and threads[1] != loop_thread
    assert store.verify().checked == 2


def test_bounding_is_linear_in_the_number_of_reasons() -> None:
    """Size-quadrupling ratio (never a wall-clock threshold): linear is ~4, quadratic ~16."""

    def cost(n: int) -> float:
        decision = make_decision(1, verdict="BLOCK", reasons=wal_reasons(n))
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            build_static(decision, source="api", dry_run=False)
            best = min(best, time.process_time() - start)
        return best

    small, large = cost(5_000), cost(20_000)
    assert large / max(small, 1e-6) < 8
