"""Fail closed: an unwritable, full, corrupted or missing store turns every decision into BLOCK."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.audit.helpers import make_decision, reason
from webhook.audit import (
    AUDIT_WRITE_FAILED,
    AuditQuery,
    AuditStore,
    AuditWriteError,
    open_store,
    record_decision,
    verify_path,
)
from webhook.audit.canonical import canonical_json
from webhook.contracts.decision import Decision
from webhook.errors import ConfigError


class Hooks:
    """What a door passes: a JSON-line sink and a failure counter."""

    def __init__(self) -> None:
        self.lines: list[dict[str, object]] = []
        self.failures = 0

    def emit(self, line: str) -> None:
        assert "\n" not in line
        self.lines.append(json.loads(line))

    def failed(self) -> None:
        self.failures += 1


def record(
    store: AuditStore | None, decision: Decision, hooks: Hooks, dry_run: bool = False
) -> Decision:
    return record_decision(
        store,
        decision,
        source="admission",
        dry_run=dry_run,
        emit=hooks.emit,
        on_write_failure=hooks.failed,
    )


def assert_blocked(result: Decision, original: Decision, words: str) -> None:
    assert result.decision == "BLOCK"
    assert result.reasons[:-1] == original.reasons
    last = result.reasons[-1]
    assert last.policy == AUDIT_WRITE_FAILED and last.severity == "high" and last.field == "audit"
    assert last.message.startswith("audit store unwritable: ") and words in last.message
    assert last.message.count("unwritable") == 1
    assert result.steps[-1].name == "audit" and not result.steps[-1].ok
    assert result.request_id == original.request_id


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A real small filesystem (needs root + mount); skips the test where that is impossible."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(directory: Path) -> Path:
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        for _ in range(100_000):
            try:
                f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


# -- triggers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET decision = 'ALLOW' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
        "UPDATE audit_subject SET value = 'x'",
        "DELETE FROM audit_subject",
        "INSERT OR REPLACE INTO audit_log SELECT * FROM audit_log WHERE seq = 2",
        "INSERT INTO audit_log SELECT seq + 1, ts, request_id, scenario, source, decision, env, "
        "dry_run, subject, reasons, warnings, audited, digests, policy_bundle, hash, hash "
        "FROM audit_log WHERE seq = 1",  # forks the chain after seq 1
    ],
)
def test_triggers_reject_rewrites(filled: AuditStore, sql: str) -> None:
    conn = sqlite3.connect(filled.path)
    with pytest.raises(sqlite3.IntegrityError, match=r"append-only|breaks the chain|UNIQUE"):
        conn.execute(sql)
    conn.rollback()
    conn.close()
    assert filled.verify().ok and filled.verify().checked == 10


# -- a full store --------------------------------------------------------------------------


def full_store(db: Path) -> AuditStore:
    """A store capped at its current size: the next new page fails like a full disk."""
    with open_store(db) as s:
        s.append(make_decision(0), source="api", dry_run=False)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    return open_store(db, max_pages=pages)


def test_full_store_blocks_every_decision(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = full_store(db)
    hooks = Hooks()
    allow = make_decision(1, verdict="ALLOW")
    caplog.set_level(logging.ERROR, logger="webhook.audit")
    results = [record(store, make_decision(i, verdict="ALLOW"), hooks) for i in range(1, 200)]
    blocked = [r for r in results if r.decision == "BLOCK"]
    assert blocked, "the capped store never filled up"
    first_block = results.index(blocked[0])
    assert all(r.decision == "BLOCK" for r in results[first_block:]), "ALLOW after a failure"
    assert_blocked(
        blocked[0], allow.model_copy(update={"request_id": blocked[0].request_id}), "full"
    )
    assert hooks.failures == len(blocked)
    # every decision was emitted; the failed ones as BLOCK with no chain position
    assert len(hooks.lines) == len(results)
    failed_line = hooks.lines[first_block]
    assert failed_line["decision"] == "BLOCK" and failed_line["seq"] is None
    assert failed_line["hash"] is None and failed_line["request_id"] == blocked[0].request_id
    assert any("AUDIT WRITE FAILED" in r.getMessage() for r in caplog.records)
    assert all(line["seq"] is not None for line in hooks.lines[:first_block])
    store.close()
    # nothing half-written: the chain holds exactly the acknowledged records
    assert verify_path(db).checked == 1 + first_block
    with open_store(db) as s:  # without the cap it works again
        assert s.append(make_decision(999), source="api", dry_run=False).seq == 2 + first_block


def test_append_raises_audit_write_error(db: Path) -> None:
    store = full_store(db)
    with pytest.raises(AuditWriteError, match="full") as info:
        for i in range(200):
            store.append(make_decision(i), source="cli", dry_run=False)
    assert info.value.file == str(db)
    store.close()


def test_real_full_disk(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "2m") as mnt:
        db = mnt / "audit.db"
        store = open_store(db)
        store.append(make_decision(0), source="api", dry_run=False)
        store.check_writable()
        filler = fill_disk(mnt)
        with pytest.raises(AuditWriteError, match="full"):
            store.check_writable()
        hooks = Hooks()
        results = [record(store, make_decision(i, app="a" * 500), hooks) for i in range(1, 400)]
        assert results[-1].decision == "BLOCK"
        assert "database or disk is full" in results[-1].reasons[-1].message
        acked = sum(1 for line in hooks.lines if line["seq"] is not None)
        filler.unlink()
        store.check_writable()
        rec = store.append(make_decision(1000), source="api", dry_run=False)
        assert rec.seq == 2 + acked
        store.close()
        assert verify_path(db).ok and verify_path(db).checked == rec.seq


def test_read_only_media(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        db = mnt / "audit.db"
        with open_store(db) as s:
            s.append(make_decision(0), source="api", dry_run=False)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        with pytest.raises(ConfigError, match="audit store unusable") as info:
            open_store(db)
        assert info.value.file == str(db)
        # an archived copy on read-only media still verifies
        result = verify_path(db)
        assert result.ok and result.checked == 1
        # a store handle whose medium became read-only blocks
        hooks = Hooks()
        result_decision = record(AuditStore(db), make_decision(5), hooks)
        assert_blocked(result_decision, make_decision(5), "")
        assert hooks.failures == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file modes")
def test_read_only_file_without_root(db: Path) -> None:
    with open_store(db) as s:
        s.append(make_decision(0), source="api", dry_run=False)
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        with pytest.raises(ConfigError):
            open_store(db)
        hooks = Hooks()
        assert record(AuditStore(db), make_decision(1), hooks).decision == "BLOCK"
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)


# -- corruption and misconfiguration ------------------------------------------------------


def test_corrupted_file_at_open(db: Path) -> None:
    db.write_bytes(os.urandom(8192))
    with pytest.raises(ConfigError, match="audit store unusable") as info:
        open_store(db)
    assert info.value.file == str(db)


def test_another_database_is_refused(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="not a migration-gate audit store"):
        open_store(db)


def test_corrupted_while_running(filled: AuditStore) -> None:
    filled.close()
    store = AuditStore(filled.path)
    with filled.path.open("r+b") as f:
        f.seek(0)
        f.write(os.urandom(4096))  # header and first page gone
    hooks = Hooks()
    result = record(store, make_decision(50), hooks)
    assert_blocked(result, make_decision(50), "")
    assert not verify_path(filled.path).readable
    store.close()


def test_no_store_configured_blocks() -> None:
    hooks = Hooks()
    original = make_decision(1)
    result = record(None, original, hooks)
    assert_blocked(result, original, "no audit store configured")
    assert hooks.failures == 1 and hooks.lines[0]["decision"] == "BLOCK"


def test_closed_store_blocks(store: AuditStore) -> None:
    store.close()
    assert record(store, make_decision(1), Hooks()).decision == "BLOCK"


def test_failing_hooks_never_undo_the_block(db: Path) -> None:
    store = full_store(db)

    def boom(*_: object) -> None:
        raise RuntimeError("metrics down")

    results = [
        record_decision(
            store, make_decision(i), source="api", dry_run=False, emit=boom, on_write_failure=boom
        )
        for i in range(200)
    ]
    assert results[-1].decision == "BLOCK"
    store.close()


def test_success_returns_the_decision_unchanged_and_emits_the_record(store: AuditStore) -> None:
    hooks = Hooks()
    original = make_decision(1, verdict="BLOCK", reasons=(reason("tls-required"),))
    assert record(store, original, hooks) is original
    assert hooks.failures == 0
    (line,) = hooks.lines
    (stored,) = store.query(AuditQuery()).records
    assert line == stored.model_dump(mode="json")
    assert line["seq"] == 1 and line["source"] == "admission"


def test_the_line_is_the_stored_record_byte_for_byte(store: AuditStore) -> None:
    """The blocking path's line (assembled from the record's encoding) is the canonical JSON of
    the record as stored, escapes included."""
    lines: list[str] = []
    warn = reason("p").model_copy(update={"message": "caf\u00e9 \u2603", "action": "warn"})
    for i, d in enumerate([make_decision(1), make_decision(2, verdict="BLOCK", warnings=(warn,))]):
        record_decision(store, d, source="cli", dry_run=i == 1, emit=lines.append)
    records = sorted(store.query(AuditQuery()).records, key=lambda r: r.seq)
    assert lines == [canonical_json(r.model_dump(mode="json")) for r in records]
    assert "\\u2603" in lines[1]


def test_unknown_source_is_a_write_failure(store: AuditStore) -> None:
    with pytest.raises(AuditWriteError, match="unknown source"):
        store.append(make_decision(1), source="email", dry_run=False)  # type: ignore[arg-type]


def test_alerts_roll_back_with_a_failed_record(db: Path) -> None:
    store = full_store(db)
    hooks = Hooks()
    results = [
        record(store, make_decision(i, verdict="BLOCK", reasons=(reason(f"policy-{i}"),)), hooks)
        for i in range(1, 200)
    ]
    stored_ids = {line["request_id"] for line in hooks.lines if line["seq"] is not None}
    assert len(stored_ids) < len(results)
    policies = {a.policy for a in store.alerts.list(limit=500).alerts}
    assert policies == {f"policy-{int(str(rid).split('-')[1])}" for rid in stored_ids}
    store.close()
