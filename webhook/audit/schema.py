"""SQLite schema and connection settings: append-only by trigger, durable on every commit.

`audit_log` is the chain. `audit_subject` is a derived index (subject identity value -> seq) for
the subject filter; it is append-only too but not chained (verify never relies on it).
`alerts` / `alert_events` are mutable operator state and deliberately outside the chain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from webhook.audit.tables import APPEND_ONLY, table_ddl

#: PRAGMA application_id: marks the file as a migration-gate audit store ("MGAU")
APPLICATION_ID = 0x4D474155
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 5.0

#: subject keys whose values the subject filter matches (identity, not env or version)
SUBJECT_IDENTITY_KEYS: tuple[str, ...] = ("app_id", "source_db", "target_db")

#: the triggers that keep the chain and the logs append-only (SQLite trigger bodies)
_TRIGGERS = """
CREATE TRIGGER IF NOT EXISTS audit_log_chain BEFORE INSERT ON audit_log
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log)
  OR NEW.prev_hash IS NOT COALESCE(
       (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1),
       -- genesis: the canonical.GENESIS_HASH (64 zeros)
       '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN SELECT RAISE(ABORT, 'audit_log: insert breaks the chain (seq or prev_hash)'); END;
CREATE TRIGGER IF NOT EXISTS alerts_opened AFTER INSERT ON alerts
BEGIN
    INSERT INTO alert_events (alert_id, at, event, request_id, seq)
    VALUES (NEW.id, NEW.last_seen, 'opened', NEW.last_request_id, NEW.last_seq);
END;
CREATE TRIGGER IF NOT EXISTS alerts_refired AFTER UPDATE OF status ON alerts
WHEN OLD.status = 'acknowledged' AND NEW.status = 'firing'
BEGIN
    INSERT INTO alert_events (alert_id, at, event, request_id, seq)
    VALUES (NEW.id, NEW.last_seen, 'refired', NEW.last_request_id, NEW.last_seq);
END;
CREATE TRIGGER IF NOT EXISTS alerts_acknowledged AFTER UPDATE OF status ON alerts
WHEN OLD.status = 'firing' AND NEW.status = 'acknowledged'
BEGIN
    INSERT INTO alert_events (alert_id, at, event, actor)
    VALUES (NEW.id, NEW.acked_at, 'acknowledged', NEW.acked_by);
END;
"""
#: UPDATE and DELETE rejected on every append-only table
_APPEND_ONLY = "".join(
    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}\n"
    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} rejected'); END;\n"
    for table in APPEND_ONLY
    for op in ("UPDATE", "DELETE")
)
#: the tables (`tables.table_ddl`), then the triggers
DDL = "".join((table_ddl("sqlite"), _TRIGGERS, _APPEND_ONLY))

#: rows per multi-row INSERT (16 columns x 500 stays far below SQLite's 32766 variables)
ROWS_PER_STATEMENT = 500


def insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[tuple[object, ...]], tail: str = ""
) -> None:
    """`head VALUES (?, ...), (?, ...) tail` in as few statements as possible.

    One statement per chunk instead of one step per row: the sqlite3 module releases and
    re-takes the GIL around every step, and under many threads each re-take is a wait.
    """
    if not rows:
        return
    width = len(rows[0])
    one = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        values = ", ".join([one] * len(chunk))
        params = [value for row in chunk for value in row]
        conn.execute(f"{head} VALUES {values} {tail}", params)


RECORD_COLUMNS = (
    "seq, ts, request_id, scenario, source, decision, env, dry_run, subject, reasons, warnings, "
    "audited, digests, policy_bundle, prev_hash, hash"
)


def connect(
    path: Path,
    *,
    readonly: bool = False,
    immutable: bool = False,
    busy_timeout_s: float = BUSY_TIMEOUT_S,
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the durability settings.

    synchronous=FULL: in WAL mode every COMMIT fsyncs the WAL, so a record is on disk before the
    caller hears about it. Read-only connections never create the file. `immutable` (read-only
    media, where no writer can exist) skips locking and the -shm file SQLite cannot create there.
    """
    if readonly or immutable:
        uri = path.resolve().as_uri() + ("?immutable=1" if immutable else "?mode=ro")
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None)
    else:
        conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA trusted_schema = OFF")
    except BaseException:
        conn.close()
        raise
    return conn


def ddl_statements() -> list[str]:
    """DDL split into single statements, so it can run inside our own BEGIN IMMEDIATE
    (`executescript` would commit first and lose the lock)."""
    statements: list[str] = []
    current = ""
    for line in DDL.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete DDL statement: {current.strip()[:60]}")
    return statements
