"""Group commit under a held write lock: bounded waits; a caller that gave up is never written."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.unit.audit.helpers import make_decision, prepare
from webhook.audit import AuditWriteError, open_store, record_decision, verify_path
from webhook.audit.schema import connect
from webhook.audit.writer import GroupCommitWriter


def hold_write_lock(db: Path) -> sqlite3.Connection:
    """Another process's writer in the middle of a long transaction."""
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_lock_held_elsewhere_is_a_bounded_failure(db: Path) -> None:
    open_store(db).close()
    store = open_store(db, busy_timeout_s=0.2)
    other = hold_write_lock(db)
    try:
        with pytest.raises(AuditWriteError, match="database is locked"):
            store.append(make_decision(1), source="cli", dry_run=False)
        result = record_decision(
            store, make_decision(2), source="cli", dry_run=False, emit=lambda _: None
        )
        assert result.decision == "BLOCK" and "locked" in result.reasons[-1].message
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.append(make_decision(3), source="cli", dry_run=False).seq == 1
    store.close()


def test_a_caller_that_gave_up_is_never_written(db: Path) -> None:
    open_store(db).close()
    writer = GroupCommitWriter(
        lambda: connect(db, busy_timeout_s=1.0), location=str(db), pending_timeout_s=0.05
    )
    other = hold_write_lock(db)
    first_error: list[BaseException] = []

    def first() -> None:
        try:
            writer.submit(prepare(make_decision(1), source="cli", dry_run=False))
        except AuditWriteError as exc:  # the claimed batch: fails after the bounded lock wait
            first_error.append(exc)

    t = threading.Thread(target=first)
    t.start()
    for _ in range(500):  # until record 1 is claimed: the writer is then stuck on the lock
        if writer._queue.empty() and writer._thread is not None:
            break
        time.sleep(0.01)
    time.sleep(0.2)
    # Record 2 waits in the queue behind the stuck batch and gives up.
    with pytest.raises(AuditWriteError, match="did not take the record"):
        writer.submit(prepare(make_decision(2), source="cli", dry_run=False))
    other.execute("ROLLBACK")
    other.close()
    t.join()
    writer.close()
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT request_id FROM audit_log")]
    conn.close()
    assert ids == ["req-000001"] and not first_error  # the claimed record waited and landed
    assert verify_path(db).ok


def test_a_head_moved_by_another_writer_is_read_again(db: Path) -> None:
    """Each writer chains onto the head it committed last without reading it; when another
    connection appended meanwhile, the chain trigger refuses the row and the head is read."""
    first, second = open_store(db), open_store(db)
    try:
        seqs = [
            (first if i % 3 else second).append(make_decision(i), source="api", dry_run=False).seq
            for i in range(1, 13)
        ]
    finally:
        first.close()
        second.close()
    assert seqs == list(range(1, 13))
    result = verify_path(db)
    assert result.ok and result.checked == 12


def test_a_refusal_with_the_head_unmoved_fails_the_batch(db: Path) -> None:
    """Only a moved head is retried: any other refusal of the insert is the batch's failure."""
    store = open_store(db)
    try:
        assert store.append(make_decision(1), source="api", dry_run=False).seq == 1
        other = sqlite3.connect(db, isolation_level=None)
        other.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
        )
        other.close()
        with pytest.raises(AuditWriteError, match="refused by test"):
            store.append(make_decision(2), source="api", dry_run=False)
    finally:
        store.close()
    assert verify_path(db).checked == 1
