"""The event-loop append path: same durability, same JSON line, same fail-closed outcomes."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.unit.audit.helpers import make_decision
from tests.unit.audit.test_audit_failclosed import full_store
from webhook.audit import AuditQuery, AuditStore, AuditWriteError, open_store, verify_path
from webhook.audit.canonical import canonical_json
from webhook.audit.record import record_decision_async
from webhook.audit.schema import connect
from webhook.audit.store import AuditStore as Store
from webhook.audit.writer import GroupCommitWriter
from webhook.contracts.decision import Reason


def test_append_async_is_durable_and_its_line_is_the_canonical_record(store: AuditStore) -> None:
    warn = Reason(policy="p", severity="info", field="f", message="caf\u00e9 \u2603", action="warn")
    decisions = [make_decision(1), make_decision(2, verdict="BLOCK", warnings=(warn,))]

    async def main() -> list[str]:
        done = await asyncio.gather(
            *(
                store.append_async(d, source="admission", dry_run=i == 1)
                for i, d in enumerate(decisions)
            )
        )
        return [a.line for a in done]

    lines = asyncio.run(main())
    for decision, line in zip(decisions, lines, strict=True):
        (record,) = store.query(AuditQuery(request_id=decision.request_id)).records
        assert line == canonical_json(record.model_dump(mode="json"))
    assert store.verify().ok


def test_record_decision_async_emits_one_line_per_record(store: AuditStore) -> None:
    lines: list[str] = []
    decision = asyncio.run(
        record_decision_async(
            store, make_decision(3), source="api", dry_run=False, emit=lines.append
        )
    )
    assert decision.decision == "ALLOW"
    (record,) = store.query(AuditQuery(request_id="req-000003")).records
    assert lines == [canonical_json(record.model_dump(mode="json"))]


def test_closed_store_is_a_block_counted_and_still_one_line(db: Path) -> None:
    store = open_store(db)
    store.close()
    failures: list[int] = []
    lines: list[str] = []
    decision = asyncio.run(
        record_decision_async(
            store,
            make_decision(4),
            source="api",
            dry_run=False,
            emit=lines.append,
            on_write_failure=lambda: failures.append(1),
        )
    )
    assert decision.decision == "BLOCK"
    assert decision.reasons[-1].policy == "audit-write-failed"
    assert "closed" in decision.reasons[-1].message
    assert failures == [1] and len(lines) == 1 and '"seq":null' in lines[0]


def test_a_full_store_blocks_every_waiting_decision(db: Path) -> None:
    store = full_store(db)  # the next new page fails like a full disk
    lines: list[str] = []
    failures: list[int] = []

    async def main() -> list[str]:
        verdicts: list[str] = []
        for start in range(0, 200, 20):  # concurrent waves: failed batches fail every future
            results = await asyncio.gather(
                *(
                    record_decision_async(
                        store,
                        make_decision(i),
                        source="api",
                        dry_run=False,
                        emit=lines.append,
                        on_write_failure=lambda: failures.append(1),
                    )
                    for i in range(start, start + 20)
                )
            )
            verdicts += [r.decision for r in results]
        return verdicts

    try:
        verdicts = asyncio.run(main())
    finally:
        store.close()
    assert "BLOCK" in verdicts, "the capped store never filled up"
    assert len(lines) == len(verdicts) == 200
    assert len(failures) == verdicts.count("BLOCK")
    # nothing half-written: the chain holds exactly the acknowledged records (+ the first one)
    assert verify_path(db).checked == 1 + verdicts.count("ALLOW")


def test_pending_timeout_fails_a_record_the_writer_never_took(db: Path) -> None:
    open_store(db).close()
    gate = threading.Event()

    def slow_connect() -> sqlite3.Connection:
        gate.wait(10)  # the writer is stuck on its first batch
        return connect(db)

    writer = GroupCommitWriter(slow_connect, location=str(db), pending_timeout_s=0.2)
    first = Store._prepare(make_decision(5), source="api", dry_run=False)
    second = Store._prepare(make_decision(6), source="api", dry_run=False)

    async def main() -> None:
        claimed = writer.submit_async(first)
        await asyncio.sleep(0.05)  # let the writer claim the first record
        waiting = writer.submit_async(second)
        with pytest.raises(AuditWriteError, match="did not take the record"):
            await waiting
        gate.set()
        position = await claimed  # a claimed record is always waited for
        assert position.seq == 1

    try:
        asyncio.run(main())
    finally:
        gate.set()
        writer.close()
    rows = [r[0] for r in connect(db).execute("SELECT request_id FROM audit_log")]
    assert rows == ["req-000005"]
