"""The audit store: append (group commit), query (keyset), verify (streaming), alerts, export."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

from webhook.audit import query as queries
from webhook.audit.alerts import AlertStore
from webhook.audit.bound import is_large
from webhook.audit.chain import Anchor, BrokenRecord, row_to_record, walk
from webhook.audit.encode import Encoder, Prepared
from webhook.audit.errors import AuditReadError, AuditWriteError
from webhook.audit.head import check_last, verify_head
from webhook.audit.models import AuditPage, AuditQuery, AuditRecord, VerifyResult
from webhook.audit.schema import (
    APPLICATION_ID,
    BUSY_TIMEOUT_S,
    RECORD_COLUMNS,
    SCHEMA_VERSION,
    connect,
    ddl_statements,
)
from webhook.audit.target import PostgresTarget, parse_target
from webhook.audit.writer import ChainPosition, GroupCommitWriter, describe
from webhook.contracts.decision import Decision, Reason, Source
from webhook.errors import ConfigError

log = logging.getLogger("webhook.audit")

_T = TypeVar("_T")
_SOURCES = frozenset(get_args(Source))
#: /readyz says "not writable" below this much free space: a commit would soon fail
MIN_FREE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Appended:
    """A durable record as the async path returns it: its chain position and its JSON line.

    `line` is byte-identical to `canonical_json(record.model_dump(mode="json"))` (tested): it is
    assembled from the texts already encoded for the hash, so the hot path encodes each field
    once.
    """

    position: ChainPosition
    record: Prepared

    @property
    def line(self) -> str:
        pos = self.position
        return self.record.line(pos.hash, pos.prev_hash, pos.seq, pos.ts)


class AuditStore:
    """One SQLite file, shared safely by any number of threads and processes."""

    def __init__(
        self, path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S, max_pages: int | None = None
    ) -> None:
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._max_pages = max_pages
        self._pid = os.getpid()
        self._writer = self._new_writer()
        self._encoder = Encoder()
        self.alerts = AlertStore(self._connect, location=str(path))

    @property
    def location(self) -> str:
        """Where the store is, safe for a log line or an error (never a password)."""
        return str(self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    # -- connections ------------------------------------------------------------------------
    def _connect(self, readonly: bool = False) -> sqlite3.Connection:
        conn = connect(self.path, readonly=readonly, busy_timeout_s=self._busy_timeout_s)
        if self._max_pages is not None and not readonly:
            conn.execute(f"PRAGMA max_page_count = {int(self._max_pages)}")
        return conn

    def _new_writer(self) -> GroupCommitWriter:
        return GroupCommitWriter(lambda: self._connect(False), location=str(self.path))

    # -- writing ----------------------------------------------------------------------------
    def _writer_for(self, source: Source) -> GroupCommitWriter:
        """The writer of this process, after checking the source (shared by both appends)."""
        if source not in _SOURCES:
            raise AuditWriteError(f"unknown source {source!r}", field="source")
        if os.getpid() != self._pid:
            # Forked child: the parent's thread and connection do not exist here; never reuse them.
            self._pid, self._writer = os.getpid(), self._new_writer()
        return self._writer

    def append(self, decision: Decision, *, source: Source, dry_run: bool) -> AuditRecord:
        """Chain and commit one record; returns only once it is durable (AuditWriteError if not)."""
        done = append_blocking(self, decision, source=source, dry_run=dry_run)
        return recorded(done.record, done.position, source=source, dry_run=dry_run)

    async def append_async(
        self,
        decision: Decision,
        *,
        source: Source,
        dry_run: bool,
        emit: Callable[[str], None] | None = None,
    ) -> Appended:
        """`append` for the event loop: awaits durability without blocking a thread.

        Encoding runs on the loop (it is CPU either way, and memoised for repeated decisions),
        in a thread for a large decision (`bound.is_large`);
        the writer thread commits and wakes the loop. With `emit`, the writer thread hands it
        the record's JSON line after the commit, so the loop never writes
        it. Raises AuditWriteError exactly where `append` would.
        """
        writer = self._writer_for(source)
        if is_large(decision):  # tens of ms of bounding: not on the loop every door shares
            prepared = await asyncio.to_thread(
                self._encoder.prepare, decision, source=source, dry_run=dry_run
            )
        else:
            prepared = self._encoder.prepare(decision, source=source, dry_run=dry_run)
        position = await writer.submit_async(prepared, emit=emit)
        return Appended(position, prepared)

    def check_writable(self) -> None:
        """For /readyz: the file is ours, the write lock can be taken, the disk has room."""
        try:
            stat = os.statvfs(self.path.parent)
            free = stat.f_bavail * stat.f_frsize
            if free < MIN_FREE_BYTES:
                raise AuditWriteError(
                    f"audit store disk nearly full: {free} bytes free", file=str(self.path)
                )
            conn = self._connect(False)
            try:
                if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                    raise AuditWriteError("not a migration-gate audit store", file=str(self.path))
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except (sqlite3.Error, OSError) as exc:
            raise AuditWriteError(
                f"audit store unwritable: {describe(exc)}", file=str(self.path)
            ) from None

    def close(self) -> None:
        """Commit what is queued and stop the writer thread."""
        if os.getpid() == self._pid:
            self._writer.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------
    def query(self, query: AuditQuery) -> AuditPage:
        """Newest first; keyset pagination via the opaque cursor."""
        sql, params = queries.build(query)
        rows = self._read("query", lambda conn: conn.execute(sql, params).fetchall())
        records = [_to_model(row) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return AuditPage(
            records=records, next_cursor=queries.next_cursor(records[-1].seq) if more else None
        )

    def get(self, seq: int) -> AuditRecord | None:
        """The record at `seq`, or None if there is none (the UI's record view)."""
        sql = f"SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq = ?"  # noqa: S608
        row = self._read("read", lambda conn: conn.execute(sql, (_seq(seq),)).fetchone())
        return None if row is None else _to_model(row)

    def _read(self, what: str, run: Callable[[sqlite3.Connection], _T]) -> _T:
        """`run` on a read-only connection; a database error as AuditReadError ("audit <what>
        failed"), anything else (a bad seq) as it is."""
        try:
            conn = self._connect(True)
            try:
                return run(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise AuditReadError(
                f"audit {what} failed: {describe(exc)}", file=str(self.path)
            ) from None

    def verify(self, anchor: Anchor | None = None) -> VerifyResult:
        """Walk the whole chain; see `verify_path`."""
        return verify_path(self.path, anchor)

    def verify_head(self, last: int, anchor: Anchor | None = None) -> VerifyResult:
        """Check only the newest `last` records (`head.verify_head`): bounded work, one snapshot."""
        check_last(last)
        try:
            conn = self._connect(True)
            try:
                conn.execute("BEGIN")  # one WAL snapshot for every statement
                try:
                    return verify_head(
                        lambda sql, params: conn.execute(sql, tuple(params)).fetchall(),
                        last,
                        anchor,
                    )
                finally:
                    conn.execute("ROLLBACK")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            error = AuditReadError(f"unreadable: {describe(exc)}", file=str(self.path))
            return VerifyResult(ok=False, checked=0, readable=False, reason=error.diagnostics())


def append_blocking(
    store: AuditStore, decision: Decision, *, source: Source, dry_run: bool
) -> Appended:
    """`AuditStore.append` up to the commit: the position and the encoded record, whose `line`
    is the record's JSON line without encoding the record again (`record_decision`'s line)."""
    writer = store._writer_for(source)
    with writer.encoding():
        prepared = store._encoder.prepare(decision, source=source, dry_run=dry_run)
    return Appended(writer.submit(prepared), prepared)


def _seq(seq: int) -> int:
    """A seq as the databases store it (1 .. 2**63-1); ValueError otherwise."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq < 2**63:
        raise ValueError(f"seq must be an integer from 1 to 2**63-1 (got {seq!r})")
    return seq


def recorded(
    prepared: Prepared, position: ChainPosition, *, source: Source, dry_run: bool
) -> AuditRecord:
    """The record as stored: the bounded view of the decision (`bound.bounded`), chained."""
    d = prepared.static.record
    return AuditRecord.model_construct(
        seq=position.seq,
        ts=position.ts,
        request_id=prepared.request_id,
        scenario=d.scenario,
        source=source,
        decision=d.decision,
        env=d.subject.get("env", ""),
        dry_run=dry_run,
        subject=dict(d.subject),
        reasons=d.reasons,
        warnings=d.warnings,
        audited=d.audited,
        digests=dict(d.digests),
        policy_bundle=d.policy_bundle,
        prev_hash=position.prev_hash,
        hash=position.hash,
    )


def _to_model(row: tuple[Any, ...]) -> AuditRecord:
    """A stored row as the model, with exactly the stored values.

    Validation checks the shape only: the values returned are the row's, never re-processed by
    the contract's validators (a Reason's redaction would otherwise show a reader other text
    than the chain holds, and differ between gate versions).
    """
    try:
        record = row_to_record(row)
        AuditRecord.model_validate(record)
    except BrokenRecord as exc:
        raise AuditReadError(f"record {exc.seq}: {exc.reason}") from None
    except ValueError as exc:  # pydantic ValidationError: a row edited into an invalid value
        raise AuditReadError(f"record {row[0]} is not a valid audit record: {exc}") from None
    for name in ("reasons", "warnings", "audited"):
        record[name] = tuple(Reason.model_construct(**r) for r in record[name])
    return AuditRecord.model_construct(**record)


def iter_path(path: Path) -> Iterator[dict[str, Any]]:
    """Records of the store at `path` in seq order, without creating or changing anything."""
    if not path.is_file():
        raise AuditReadError("no audit store at this path", file=str(path))
    try:
        conn = connect(path, readonly=True)
    except sqlite3.OperationalError as exc:
        if os.access(path.parent, os.W_OK):
            raise AuditReadError(f"cannot open: {describe(exc)}", file=str(path)) from None
        # Read-only media (an archived copy): nobody can be writing; read the file as it is.
        try:
            conn = connect(path, immutable=True)
        except sqlite3.Error as retry:
            raise AuditReadError(f"cannot open: {describe(retry)}", file=str(path)) from None
    except sqlite3.Error as exc:
        raise AuditReadError(f"cannot open: {describe(exc)}", file=str(path)) from None
    try:
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            if app_id != APPLICATION_ID:
                raise AuditReadError("not a migration-gate audit store", file=str(path))
            check = conn.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                detail = "; ".join(str(r[0]) for r in check[:3])
                raise AuditReadError(f"database file is corrupted: {detail}", file=str(path))
            rows = conn.execute(f"SELECT {RECORD_COLUMNS} FROM audit_log ORDER BY seq")  # noqa: S608
            for row in rows:
                yield row_to_record(row)
        except sqlite3.Error as exc:
            raise AuditReadError(f"unreadable: {describe(exc)}", file=str(path)) from None
    finally:
        conn.close()


def iter_target(
    target: str | Path, *, environ: Mapping[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Records of any store (path or URL) in seq order, read-only; AuditReadError if unreadable."""
    try:
        parsed = parse_target(target, environ=environ)
    except ConfigError as exc:
        raise AuditReadError(exc.message, file=exc.file, field=exc.field) from None
    if isinstance(parsed, PostgresTarget):
        from webhook.audit.pg.read import iter_postgres  # noqa: PLC0415 - psycopg when used

        return iter_postgres(parsed)
    return iter_path(parsed.path)


def verify_path(
    path: str | Path, anchor: Anchor | None = None, *, environ: Mapping[str, str] | None = None
) -> VerifyResult:
    """Verify a store (file or URL) read-only: broken chain (or anchor not met) -> ok False;
    unreadable -> readable False."""
    try:
        return walk(iter_target(path, environ=environ), anchor)
    except AuditReadError as exc:
        return VerifyResult(ok=False, checked=0, readable=False, reason=exc.diagnostics())


def open_store(
    target: str | Path,
    *,
    busy_timeout_s: float = BUSY_TIMEOUT_S,
    max_pages: int | None = None,
    password_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> AuditStore:
    """Open (creating or migrating the schema if needed) the store `target` names.

    `target`: a path or `sqlite:///PATH` (SQLite), or `postgresql://USER@HOST:PORT/DB`
    (`webhook.audit.target`; the password from `password_file`,
    MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE or MIGRATION_GATE_AUDIT_DB_PASSWORD).
    ConfigError naming the store if it is unusable.
    `max_pages` caps an SQLite file (pages): past it every append fails, i.e. BLOCKs.
    """
    parsed = parse_target(target, password_file=password_file, environ=environ)
    if isinstance(parsed, PostgresTarget):
        from webhook.audit.pg.store import open_postgres  # noqa: PLC0415 - psycopg when used

        return open_postgres(parsed)
    path = parsed.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(path, busy_timeout_s=busy_timeout_s)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"audit store unusable: {describe(exc)}", file=str(path)) from None
    try:
        _initialise(conn, path)
    except sqlite3.Error as exc:
        raise ConfigError(f"audit store unusable: {describe(exc)}", file=str(path)) from None
    finally:
        conn.close()
    return AuditStore(path, busy_timeout_s=busy_timeout_s, max_pages=max_pages)


def _initialise(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ConfigError(f"audit store cannot use WAL mode (got {mode!r})", file=str(path))
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if app_id != APPLICATION_ID and (app_id != 0 or tables):
            raise ConfigError(
                "not a migration-gate audit store (another SQLite database is at this path)",
                file=str(path),
            )
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"audit store schema {version} is newer than this gate ({SCHEMA_VERSION})",
                file=str(path),
            )
        for statement in ddl_statements():
            conn.execute(statement)
        if app_id != APPLICATION_ID:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
