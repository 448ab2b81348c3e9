"""The event-loop append path: same durability, same JSON line, same fail-closed outcomes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.unit.audit.helpers import make_decision, prepare
from tests.unit.audit.test_audit_failclosed import full_store
from webhook.audit import AuditQuery, AuditStore, AuditWriteError, open_store, verify_path
from webhook.audit.canonical import canonical_json
from webhook.audit.record import record_decision_async
from webhook.audit.schema import connect
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
    first = prepare(make_decision(5), source="api", dry_run=False)
    second = prepare(make_decision(6), source="api", dry_run=False)

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


class CountingLoop(asyncio.SelectorEventLoop):
    """A real loop that counts cross-thread wakeups and timers (what each record costs it)."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups = 0
        self.timers = 0

    def call_soon_threadsafe(self, *args: Any, **kwargs: Any) -> asyncio.Handle:  # type: ignore[override]
        self.wakeups += 1
        return super().call_soon_threadsafe(*args, **kwargs)

    def call_later(self, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:  # type: ignore[override]
        self.timers += 1
        return super().call_later(*args, **kwargs)


def test_one_wakeup_and_one_timer_for_records_submitted_together(store: AuditStore) -> None:
    loop = CountingLoop()

    async def main() -> list[str]:
        done = await asyncio.gather(
            *(store.append_async(make_decision(i), source="api", dry_run=False) for i in range(50))
        )
        return [a.line for a in done]

    try:
        lines = loop.run_until_complete(main())
    finally:
        loop.close()
    assert len(lines) == 50 and store.verify().checked == 50
    assert loop.wakeups == 1  # one batch, one call_soon_threadsafe (not one per record)
    assert loop.timers == 1  # one pending-timeout watchdog (not one call_later per record)


def test_the_writer_thread_emits_each_committed_line_before_the_caller_resumes(
    store: AuditStore,
) -> None:
    emitted: list[tuple[str, str]] = []

    def sink(line: str) -> None:
        emitted.append((threading.current_thread().name, line))

    async def one(i: int) -> None:
        appended = await store.append_async(
            make_decision(i), source="admission", dry_run=False, emit=sink
        )
        assert (threading.current_thread().name, appended.line) not in emitted
        assert ("audit-group-commit", appended.line) in emitted  # already out, once

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(30)))

    asyncio.run(main())
    assert len(emitted) == 30
    for _thread, line in emitted:
        (record,) = store.query(AuditQuery(request_id=json.loads(line)["request_id"])).records
        assert line == canonical_json(record.model_dump(mode="json"))


def test_default_sink_writes_the_lines_to_stdout(
    store: AuditStore, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> None:
        await asyncio.gather(
            *(
                record_decision_async(store, make_decision(i), source="api", dry_run=False)
                for i in range(12)
            )
        )

    asyncio.run(main())
    out = capsys.readouterr().out.splitlines()
    assert sorted(json.loads(line)["seq"] for line in out) == list(range(1, 13))
    records = {r.seq: r for r in store.query(AuditQuery(limit=50)).records}
    for line in out:
        assert line == canonical_json(records[json.loads(line)["seq"]].model_dump(mode="json"))


def test_a_stalled_line_sink_never_stalls_the_event_loop(store: AuditStore) -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck(line: str) -> None:  # a stdout reader that stopped draining
        entered.set()
        release.wait(10)

    async def main() -> int:
        pending = asyncio.ensure_future(
            store.append_async(make_decision(1), source="api", dry_run=False, emit=stuck)
        )
        ticks = 0
        while not entered.is_set():  # the loop keeps turning while the writer is stuck
            await asyncio.sleep(0.001)
            ticks += 1
        for _ in range(5):
            await asyncio.sleep(0)
            ticks += 1
        assert not pending.done()  # no answer before its line is out
        release.set()
        appended = await pending
        assert appended.position.seq == 1
        return ticks

    try:
        assert asyncio.run(main()) >= 5
    finally:
        release.set()


def test_a_failing_sink_is_logged_and_the_record_still_counts(
    store: AuditStore, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(line: str) -> None:
        raise OSError("stdout closed")

    decision = asyncio.run(
        record_decision_async(store, make_decision(2), source="api", dry_run=False, emit=broken)
    )
    assert decision.decision == "ALLOW" and store.verify().checked == 1
    assert "emitting the audit JSON line for request req-000002 failed" in caplog.text


def test_records_flushed_after_close_are_refused_at_once(db: Path) -> None:
    open_store(db).close()
    writer = GroupCommitWriter(lambda: connect(db), location=str(db))
    record = prepare(make_decision(7), source="api", dry_run=False)

    async def main() -> None:
        future = writer.submit_async(record)  # queued for the writer at the next loop turns
        writer.close()
        with pytest.raises(AuditWriteError, match="closed"):
            await future

    asyncio.run(main())
    assert connect(db).execute("SELECT count(*) FROM audit_log").fetchone() == (0,)


def test_pending_timeout_fails_every_record_left_waiting(db: Path) -> None:
    open_store(db).close()
    gate = threading.Event()

    def slow_connect() -> sqlite3.Connection:
        gate.wait(10)
        return connect(db)

    writer = GroupCommitWriter(slow_connect, location=str(db), pending_timeout_s=0.2)
    records = [prepare(make_decision(i), source="api", dry_run=False) for i in range(4)]

    async def main() -> None:
        claimed = writer.submit_async(records[0])
        await asyncio.sleep(0.05)  # the writer claims it and hangs in connect
        waiting = [writer.submit_async(r) for r in records[1:]]
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(r, AuditWriteError) for r in results), results
        gate.set()
        assert (await claimed).seq == 1

    try:
        asyncio.run(main())
    finally:
        gate.set()
        writer.close()
