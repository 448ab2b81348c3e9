"""Copy an audit chain from one store to another and verify it on arrival.

    migrate(src: str | Path, dst: str | Path) -> MigrateReport

`src` and `dst` are anything `open_store` takes (a path, `sqlite:///...`, `postgresql://...`),
so SQLite -> PostgreSQL (moving to replicas), PostgreSQL -> SQLite (an offline copy) and
PostgreSQL -> PostgreSQL all work. The records are copied exactly (seq, ts, hashes): the chain
is the same chain, and an anchor written down before the move still verifies after it.

Rules: the source must verify before anything is written (a broken chain is not spread); the
destination must hold no records (refused otherwise, never merged); the copy is one
transaction (all or nothing), the destination's own chain trigger checks every row, and the
destination is verified after the commit: its head must equal the source's. Current alerts
are copied with their counts and status; their event history stays in the source.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.audit.canonical import canonical_json
from webhook.audit.chain import JSON_COLUMNS
from webhook.audit.errors import AuditReadError, AuditWriteError
from webhook.audit.schema import SUBJECT_IDENTITY_KEYS, connect, insert_rows
from webhook.audit.store import AuditStore, iter_target, open_store, verify_path
from webhook.audit.target import PostgresTarget, SqliteTarget, parse_target

__all__ = ["MigrateReport", "migrate"]

_COLUMNS = (
    "seq", "ts", "request_id", "scenario", "source", "decision", "env", "dry_run", "subject",
    "reasons", "warnings", "audited", "digests", "policy_bundle", "prev_hash", "hash",
)  # fmt: skip
_ALERT_COLUMNS = (
    "scenario, subject_key, subject, policy, severity, status, count, first_seen, last_seen, "
    "last_request_id, last_seq, message, acked_by, acked_at"
)
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class MigrateReport:
    """What arrived: the record count, the head both stores now agree on, the alerts."""

    source: str
    destination: str
    records: int
    head_seq: int | None
    head_hash: str | None
    alerts: int


def _row(record: dict[str, Any]) -> tuple[object, ...]:
    values: list[object] = []
    for name in _COLUMNS:
        value = record[name]
        if name in JSON_COLUMNS:
            value = canonical_json(value)
        elif name == "dry_run":
            value = int(bool(value))
        values.append(value)
    return tuple(values)


def _subjects(record: dict[str, Any]) -> list[tuple[object, ...]]:
    subject = record["subject"] if isinstance(record["subject"], dict) else {}
    values = dict.fromkeys(str(subject[k]) for k in SUBJECT_IDENTITY_KEYS if subject.get(k))
    return [(v, record["seq"]) for v in values]


def _chunks(src: str | Path) -> Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
    rows: list[tuple[object, ...]] = []
    subjects: list[tuple[object, ...]] = []
    for record in iter_target(src):
        rows.append(_row(record))
        subjects += _subjects(record)
        if len(rows) >= _CHUNK:
            yield rows, subjects
            rows, subjects = [], []
    if rows:
        yield rows, subjects


def _alerts(store: AuditStore) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    cursor: str | None = None
    while True:
        page = store.alerts.list(limit=500, cursor=cursor)
        for a in page.alerts:
            out.append(
                (
                    a.scenario, a.subject_key, canonical_json(a.subject), a.policy, a.severity,
                    a.status, a.count, a.first_seen, a.last_seen, a.last_request_id, a.last_seq,
                    a.message, a.acked_by, a.acked_at,
                )
            )  # fmt: skip
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def migrate(src: str | Path, dst: str | Path) -> MigrateReport:
    """Copy the chain `src` -> `dst` (an empty store), verified before and after.

    AuditReadError if the source is unreadable or broken; AuditWriteError if the destination
    is not empty, refuses a row, or does not verify to the source's head after the copy.
    """
    before = verify_path(src)
    if not before.ok:
        raise AuditReadError(
            f"source chain does not verify, nothing copied: {before.reason}",
            file=_display(src),
        )
    source = open_store(src)
    try:
        alerts = _alerts(source)
    finally:
        source.close()
    destination = open_store(dst)  # creates or migrates the schema
    destination.close()
    target = parse_target(dst)
    if isinstance(target, PostgresTarget):
        _copy_postgres(target, src, alerts)
    else:
        _copy_sqlite(target, src, alerts)
    after = verify_path(dst)
    if not after.ok or (after.head_seq, after.head_hash) != (before.head_seq, before.head_hash):
        raise AuditWriteError(
            f"destination does not verify to the source's head {before.head_seq}:"
            f"{before.head_hash} after the copy: {after.reason or after.head_seq}",
            file=_display(dst),
        )
    return MigrateReport(
        source=_display(src),
        destination=_display(dst),
        records=after.checked,
        head_seq=after.head_seq,
        head_hash=after.head_hash,
        alerts=len(alerts),
    )


def _display(target: str | Path) -> str:
    from webhook.audit.target import display_target  # noqa: PLC0415 - tiny, avoids a cycle

    return display_target(target)


_PG_INSERT = (
    f"INSERT INTO audit_log ({', '.join(_COLUMNS)}) "  # noqa: S608 - constant columns
    f"VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
)
_PG_SUBJECT = "INSERT INTO audit_subject (value, seq) VALUES (%s, %s) ON CONFLICT DO NOTHING"
_PG_ALERT = f"INSERT INTO alerts ({_ALERT_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})"  # noqa: S608


def _copy_sqlite(target: SqliteTarget, src: str | Path, alerts: list[tuple[object, ...]]) -> None:
    conn = connect(target.path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]:
                raise AuditWriteError("destination already holds records", file=str(target.path))
            for rows, subjects in _chunks(src):
                insert_rows(conn, f"INSERT INTO audit_log ({', '.join(_COLUMNS)})", rows)
                insert_rows(conn, "INSERT OR IGNORE INTO audit_subject (value, seq)", subjects)
            if alerts and conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0:
                insert_rows(conn, f"INSERT INTO alerts ({_ALERT_COLUMNS})", alerts)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise AuditWriteError(f"copy refused: {exc}", file=str(target.path)) from None
    finally:
        conn.close()


def _copy_postgres(
    target: PostgresTarget, src: str | Path, alerts: list[tuple[object, ...]]
) -> None:
    import psycopg  # noqa: PLC0415 - only for a PostgreSQL destination

    from webhook.audit.pg.conn import connect as pg_connect  # noqa: PLC0415
    from webhook.audit.pg.conn import pg_error  # noqa: PLC0415
    from webhook.audit.pg.schema import CHAIN_LOCK  # noqa: PLC0415

    try:
        with pg_connect(target) as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = 0")  # a long chain is one transaction
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
            cur.execute("SELECT count(*) FROM audit_log")
            found = cur.fetchone()
            if found is None or found[0]:
                raise AuditWriteError("destination already holds records", file=target.display)
            for rows, subjects in _chunks(src):
                cur.executemany(_PG_INSERT, rows)
                if subjects:
                    cur.executemany(_PG_SUBJECT, subjects)
            cur.execute("SELECT count(*) FROM alerts")
            existing = cur.fetchone()
            if alerts and existing is not None and existing[0] == 0:
                cur.executemany(_PG_ALERT, alerts)
    except psycopg.Error as exc:
        raise AuditWriteError(f"copy refused: {pg_error(exc)}", file=target.display) from None
