"""Group commit: one writer thread turns many concurrent appends into one durable transaction.

Callers hand over a fully encoded record and block until THEIR record is committed (or the batch
failed, then every caller of that batch gets AuditWriteError). An asyncio caller uses
`submit_async` instead: the writer thread resolves its future with `call_soon_threadsafe`, so
the event loop awaits durability without parking a worker thread on a lock. Across processes the
chain is kept by taking the SQLite write lock first (BEGIN IMMEDIATE) and reading the head inside
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from webhook.audit.alerts import AlertHit, alert_rows, apply_alerts
from webhook.audit.canonical import GENESIS_HASH, fill_template, utc_now
from webhook.audit.errors import AuditWriteError
from webhook.audit.schema import insert_rows

log = logging.getLogger("webhook.audit")

MAX_BATCH = 512
#: longest a batch waits for callers still encoding (well under one fsync on any disk we saw)
LINGER_S = 0.001
LOCK_ATTEMPTS = 2
_PENDING, _CLAIMED, _DONE, _CANCELLED = range(4)

_INSERT = (
    "INSERT INTO audit_log (seq, ts, request_id, scenario, source, decision, env, dry_run, "
    "subject, reasons, warnings, audited, digests, policy_bundle, prev_hash, hash)"
)


@dataclass(slots=True)
class Prepared:
    """A record encoded in the caller's thread: column values, hash template, alert hits."""

    request_id: str
    scenario: str
    source: str
    decision: str
    env: str
    dry_run: bool
    subject_json: str
    reasons_json: str
    warnings_json: str
    audited_json: str
    digests_json: str
    policy_bundle: str
    template: tuple[str, str, str, str]
    subject_values: tuple[str, ...]
    alerts: list[AlertHit]


@dataclass(frozen=True, slots=True)
class ChainPosition:
    """What the writer assigned: the fields only known under the write lock."""

    seq: int
    ts: str
    prev_hash: str
    hash: str


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(slots=True)
class _Ticket:
    """One caller's record and its answer. `done` is a lock held until resolved: cheaper than an
    Event (no Condition) on the hot path. `state` changes only under the writer's state lock."""

    record: Prepared
    done: threading.Lock = field(default_factory=_held_lock)
    state: int = _PENDING
    position: ChainPosition | None = None
    error: AuditWriteError | None = None
    #: called (in the writer thread) once resolved; the async path wakes its loop with it
    on_done: Callable[[], None] | None = None

    def resolve(self, position: ChainPosition | None, error: AuditWriteError | None) -> None:
        self.position, self.error, self.state = position, error, _DONE
        self.done.release()
        if self.on_done is not None:
            try:
                self.on_done()
            except Exception:  # a closed loop: nobody is waiting any more; never kill the writer
                log.warning("audit completion callback failed", exc_info=True)


_STOP = object()


def describe(exc: BaseException) -> str:
    """sqlite's own words ("database or disk is full"), prefixed by its class when useful."""
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, sqlite3.Error) else f"{type(exc).__name__}: {text}"


class GroupCommitWriter:
    """Owns one write connection and one thread; start lazily, stop with close()."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        location: str,
        pending_timeout_s: float = 30.0,
        linger_s: float = LINGER_S,
    ) -> None:
        self._linger_s = linger_s
        self._active = 0
        self._active_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._connect = connect
        self._location = location
        self._pending_timeout_s = pending_timeout_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def submit(self, record: Prepared) -> ChainPosition:
        """Block until this record is committed; AuditWriteError if it was not."""
        self._ensure_started()
        ticket = _Ticket(record)
        self._queue.put(ticket)
        if not ticket.done.acquire(timeout=self._pending_timeout_s):
            with self._state_lock:
                abandoned = ticket.state == _PENDING
                if abandoned:
                    ticket.state = _CANCELLED
            if abandoned:
                raise AuditWriteError(
                    f"audit writer did not take the record within {self._pending_timeout_s:g} s",
                    file=self._location,
                )
            # Claimed by the writer: its transaction ends within the bounded lock retries.
            ticket.done.acquire()
        if ticket.error is not None:
            raise ticket.error
        if ticket.position is None:
            raise AuditWriteError(
                "audit writer resolved a record without a seq", file=self._location
            )
        return ticket.position

    def submit_async(self, record: Prepared) -> asyncio.Future[ChainPosition]:
        """Like `submit`, for the running event loop: a future the writer thread resolves.

        Same outcomes as `submit`: the position once committed, AuditWriteError if the batch
        failed, the store is closed, or the writer did not take the record within the pending
        timeout (a record it already claimed is always waited for: its commit is bounded).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ChainPosition] = loop.create_future()
        self._ensure_started()
        ticket = _Ticket(record)

        def settle() -> None:  # on the loop
            if future.done():
                return
            if ticket.error is not None:
                future.set_exception(ticket.error)
            elif ticket.position is None:
                future.set_exception(
                    AuditWriteError(
                        "audit writer resolved a record without a seq", file=self._location
                    )
                )
            else:
                future.set_result(ticket.position)

        def wake() -> None:  # in the writer thread
            if not loop.is_closed():
                loop.call_soon_threadsafe(settle)

        def expire() -> None:  # on the loop, after the pending timeout
            with self._state_lock:
                abandoned = ticket.state == _PENDING
                if abandoned:
                    ticket.state = _CANCELLED
            if abandoned and not future.done():
                future.set_exception(
                    AuditWriteError(
                        f"audit writer did not take the record within "
                        f"{self._pending_timeout_s:g} s",
                        file=self._location,
                    )
                )

        ticket.on_done = wake
        timer = loop.call_later(self._pending_timeout_s, expire)
        future.add_done_callback(lambda _f: timer.cancel())
        self._queue.put(ticket)
        return future

    def close(self) -> None:
        """Finish queued records, then stop the thread and close the connection."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _ensure_started(self) -> None:
        if self._closed:
            raise AuditWriteError("audit store is closed", file=self._location)
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._start_lock:
            if self._closed:
                raise AuditWriteError("audit store is closed", file=self._location)
            if self._thread is None or not self._thread.is_alive():  # first use, or it died
                self._thread = threading.Thread(
                    target=self._run, name="audit-group-commit", daemon=True
                )
                self._thread.start()

    @contextmanager
    def encoding(self) -> Iterator[None]:
        """Count a caller while it encodes its record (before submit).

        The writer lingers (at most `linger_s`) for callers that are encoding right now, so
        a batch does not leave without a record that is microseconds from the queue.
        """
        with self._active_lock:
            self._active += 1
        try:
            yield
        finally:
            with self._active_lock:
                self._active -= 1

    def _gather(self, first: _Ticket) -> tuple[list[_Ticket], bool]:
        """Everything queued now, then (bounded by LINGER_S) callers known to be encoding."""
        batch, stop = [first], False
        deadline: float | None = None
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if self._active == 0:
                    break
                now = time.monotonic()
                deadline = deadline if deadline is not None else now + self._linger_s
                if now >= deadline:
                    break
                try:
                    item = self._queue.get(timeout=deadline - now)
                except queue.Empty:
                    break
            if item is _STOP:
                stop = True
                break
            if isinstance(item, _Ticket):
                batch.append(item)
        return batch, stop

    def _run(self) -> None:
        try:
            stop = False
            while not stop:
                item = self._queue.get()
                if not isinstance(item, _Ticket):
                    break  # _STOP
                batch, stop = self._gather(item)
                claimed = self._claim(batch)
                if claimed:
                    self._commit(claimed)
        finally:
            self._drop_connection()  # the connection belongs to this thread; close it here
            self._refuse_queued()

    def _claim(self, batch: list[_Ticket]) -> list[_Ticket]:
        with self._state_lock:  # a caller that gave up must not be written
            claimed = [t for t in batch if t.state == _PENDING]
            for ticket in claimed:
                ticket.state = _CLAIMED
        return claimed

    def _refuse_queued(self) -> None:
        """Records queued behind a stop (or a crash) are answered now, not after a timeout."""
        left: list[_Ticket] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Ticket):
                left.append(item)
        error = AuditWriteError("audit store is closed", file=self._location)
        for ticket in self._claim(left):
            ticket.resolve(None, error)

    def _commit(self, batch: list[_Ticket]) -> None:
        try:
            positions = self._write(batch)
        except BaseException as exc:
            error = AuditWriteError(
                f"audit store unwritable: {describe(exc)}", file=self._location, field="audit"
            )
            log.error("audit write of %d record(s) failed: %s", len(batch), error.diagnostics())
            self._drop_connection()
            for ticket in batch:
                ticket.resolve(None, error)
            return
        for ticket, position in zip(batch, positions, strict=True):
            ticket.resolve(position, None)

    def _write(self, batch: list[_Ticket]) -> list[ChainPosition]:
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect()
        self._begin(conn)
        try:
            head = conn.execute(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)
            positions: list[ChainPosition] = []
            rows: list[tuple[object, ...]] = []
            subjects: list[tuple[object, ...]] = []
            alerts: list[tuple[object, ...]] = []
            for ticket in batch:
                rec = ticket.record
                seq += 1
                ts = utc_now()
                digest = fill_template(rec.template, prev, seq, ts)
                positions.append(ChainPosition(seq, ts, prev, digest))
                rows.append(
                    (
                        seq,
                        ts,
                        rec.request_id,
                        rec.scenario,
                        rec.source,
                        rec.decision,
                        rec.env,
                        int(rec.dry_run),
                        rec.subject_json,
                        rec.reasons_json,
                        rec.warnings_json,
                        rec.audited_json,
                        rec.digests_json,
                        rec.policy_bundle,
                        prev,
                        digest,
                    )
                )
                subjects.extend((value, seq) for value in rec.subject_values)
                if rec.alerts:
                    alerts += alert_rows(rec.alerts, request_id=rec.request_id, seq=seq, ts=ts)
                prev = digest
            insert_rows(conn, _INSERT, rows)
            insert_rows(conn, "INSERT OR IGNORE INTO audit_subject (value, seq)", subjects)
            apply_alerts(conn, alerts)
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already, or the connection is gone; it is dropped anyway.
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return positions

    @staticmethod
    def _begin(conn: sqlite3.Connection) -> None:
        """Take the write lock; busy_timeout waits inside each attempt, attempts are bounded."""
        for attempt in range(1, LOCK_ATTEMPTS + 1):
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if attempt == LOCK_ATTEMPTS or (
                    "locked" not in str(exc) and "busy" not in str(exc)
                ):
                    raise
                log.warning("audit store busy (attempt %d/%d): %s", attempt, LOCK_ATTEMPTS, exc)

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                log.warning("closing the audit write connection failed", exc_info=True)
