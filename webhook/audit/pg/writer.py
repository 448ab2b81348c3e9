"""Group commit on PostgreSQL: many replicas, one chain, no duplicate seq, no fork, no gap.

Each batch is one transaction: take `pg_advisory_xact_lock(CHAIN_LOCK)`, read the head, chain
the batch onto it (`writer.chain_batch`), insert, commit (pipeline mode; a writer that made the
last commit itself assumes its own head and saves the read, see `_attempt`). The lock is
transaction-scoped, so a replica killed mid-batch (its connection dropped) releases it with
the rollback, and seq comes from the head under the lock, never a sequence (a sequence leaves
gaps on rollback). The `audit_log_chain` trigger refuses any row that does not extend the
head, and the primary key refuses a duplicate seq even from a writer that skipped the lock.

The writer thread owns one connection; a failed batch drops it and the next batch reconnects,
so the gate recovers by itself when the database returns. A blocking caller that finds the
writer idle (nothing queued, nobody encoding, no batch in flight) commits its own record on its
own thread with the same code (`submit`): no hand-off to the writer thread and back. Every
caller of a failed batch gets AuditWriteError (a BLOCK); a commit whose outcome is unknown
(the connection died during COMMIT) is reported as failed: the caller may see a BLOCK for a
record that exists, never an ALLOW for one that does not.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from webhook.audit.encode import Prepared
from webhook.audit.errors import AuditWriteError
from webhook.audit.pg.alerts import merge_alert_rows
from webhook.audit.pg.conn import connect, pg_error
from webhook.audit.pg.schema import CHAIN_LOCK, ensure_schema
from webhook.audit.target import PostgresTarget
from webhook.audit.writer import (
    _CLAIMED,
    ChainPosition,
    GroupCommitWriter,
    _Ticket,
    chain_batch,
)

log = logging.getLogger("webhook.audit")

#: a decision waits at most this long for the writer to take it (below admission's 8 s)
PENDING_TIMEOUT_S = 5.0

INSERT = (
    "INSERT INTO audit_log (seq, ts, request_id, scenario, source, decision, env, dry_run, "
    "subject, reasons, warnings, audited, digests, policy_bundle, prev_hash, hash) VALUES "
)
ROW = "(" + ", ".join(["%s"] * 16) + ")"
INSERT_SUBJECT = "INSERT INTO audit_subject (value, seq) VALUES "
PAIR = "(%s, %s)"
SUBJECT_TAIL = " ON CONFLICT DO NOTHING"
UPSERT_ALERT = (
    "INSERT INTO alerts (scenario, subject_key, subject, policy, severity, status, count, "
    "first_seen, last_seen, last_request_id, last_seq, message) VALUES "
)
ALERT = "(" + ", ".join(["%s"] * 12) + ")"
UPSERT_TAIL = (
    " ON CONFLICT (scenario, subject_key, policy) DO UPDATE SET "
    "count = alerts.count + excluded.count, last_seen = excluded.last_seen, "
    "last_request_id = excluded.last_request_id, last_seq = excluded.last_seq, "
    "message = excluded.message, subject = excluded.subject, "
    "severity = LEAST(alerts.severity, excluded.severity), status = 'firing', "
    "acked_by = NULL, acked_at = NULL"
)
BEGIN_AND_LOCK = f"BEGIN; SELECT pg_advisory_xact_lock({CHAIN_LOCK}); "
BEGIN_AND_HEAD = BEGIN_AND_LOCK + "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"  # noqa: S608


def _values(
    cur: psycopg.ClientCursor[Any],
    head: str,
    one: str,
    rows: Sequence[tuple[object, ...]],
    tail: str = "",
) -> str:
    """`head (..), (..) tail;` with every value quoted by psycopg (one statement per table)."""
    values = ", ".join([cur.mogrify(one, row) for row in rows])
    return f"{head}{values}{tail}; "


def _no_sqlite() -> Any:
    raise RuntimeError("the PostgreSQL writer has no SQLite connection")


class PostgresWriter(GroupCommitWriter):
    """The group-commit writer with PostgreSQL's transaction in place of SQLite's."""

    def __init__(
        self,
        target: PostgresTarget,
        *,
        pending_timeout_s: float = PENDING_TIMEOUT_S,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(_no_sqlite, location=target.display, pending_timeout_s=pending_timeout_s)
        self._target = target
        self._pg: psycopg.Connection[Any] | None = None
        #: (seq, hash) this writer committed last, and whether to assume it is still the head
        self._head: tuple[int, str] | None = None
        self._optimistic = False
        self._on_batch = on_batch
        #: held by whoever runs a batch on the connection: the writer thread, or an inline caller
        self._turn = threading.RLock()
        #: records a blocking caller committed on its own thread (`submit`), failures not counted
        self.inline = 0
        #: False: every record goes through the writer thread (the benchmark's comparison)
        self.inline_enabled = True

    def submit(self, record: Prepared) -> ChainPosition:
        """Commit a lone caller's record on its own thread; otherwise hand it to the writer.

        Inline only when nothing is queued, nobody is encoding and the writer holds no batch:
        then there is nothing to group with, and the hand-off (a queue put, the writer's
        wake-up, a lock release back) is pure latency. The batch runs the writer thread's
        `_commit` under the same turn lock, so outcomes (a failure is AuditWriteError) and the
        bounds (statement and lock timeouts) are the writer's; a concurrent caller meanwhile
        queues and is batched by the writer thread as before.
        """
        if (
            not self.inline_enabled
            or self._active
            or not self._queue.empty()
            or not self._turn.acquire(blocking=False)
        ):
            return super().submit(record)
        try:
            if self._closed:
                raise AuditWriteError("audit store is closed", file=self.location)
            ticket = _Ticket(record, state=_CLAIMED)
            GroupCommitWriter._commit(self, [ticket])
            if ticket.error is None:
                self.inline += 1
        finally:
            self._turn.release()
        return ticket.outcome(self.location)

    def _commit(self, batch: list[_Ticket]) -> None:
        """The writer thread's batch, after any inline caller's (bounded by its timeouts)."""
        with self._turn:
            super()._commit(batch)

    def close(self) -> None:
        """Stop the thread, then close the connection an inline caller may have opened."""
        super().close()
        with self._turn:
            self._drop_connection()

    def _write(self, batch: list[_Ticket]) -> list[ChainPosition]:
        conn = self._pg
        if conn is None:
            conn = connect(self._target, autocommit=True)
            try:
                ensure_schema(conn)
            except BaseException:
                conn.close()
                raise
            self._pg, self._head, self._optimistic = conn, None, False
        try:
            if self._optimistic and self._head is not None:
                try:
                    return self._attempt(conn, batch, self._head)
                except (psycopg.errors.RaiseException, psycopg.errors.UniqueViolation) as exc:
                    if not isinstance(exc, psycopg.errors.UniqueViolation) and (
                        "breaks the chain" not in str(exc)
                    ):
                        raise
                    conn.rollback()  # another replica wrote meanwhile: read the head again
                    self._optimistic = False
            return self._attempt(conn, batch, None)
        except BaseException:
            self._drop_connection()  # rollback or not, a fresh connection for the next batch
            raise

    def _attempt(
        self, conn: psycopg.Connection[Any], batch: list[_Ticket], known: tuple[int, str] | None
    ) -> list[ChainPosition]:
        """One transaction: chain lock, head, inserts, COMMIT, in as few round trips as possible.

        The statements of a step go as one simple-query string (values bound client-side by
        psycopg's ClientCursor, which quotes them): `known` None, BEGIN + lock + head read is
        one round trip and the inserts + COMMIT another. `known` set: the head this writer
        itself committed last, assumed unchanged, and the whole transaction is one round trip;
        if another writer appended meanwhile, the `audit_log_chain` trigger (or the primary
        key) refuses the first row and the caller rolls back and reads the head. A read head
        equal to the last one of ours turns the assumption back on, so a lone writer pays one
        round trip per batch.
        """
        cur = psycopg.ClientCursor(conn)
        try:
            if known is None:
                cur.execute(BEGIN_AND_HEAD, prepare=False)
                while cur.nextset():  # BEGIN, the lock, then the head
                    pass
                row = cur.fetchone()
                head = (int(row[0]), str(row[1])) if row else None
                self._optimistic = head is not None and head == self._head
                begin = ""
            else:
                head = known
                begin = BEGIN_AND_LOCK
            chained = chain_batch(batch, head)
            parts = [begin, _values(cur, INSERT, ROW, chained.rows)]
            if chained.subjects:
                parts.append(_values(cur, INSERT_SUBJECT, PAIR, chained.subjects, SUBJECT_TAIL))
            if chained.alerts:
                alerts = merge_alert_rows(chained.alerts)
                parts.append(_values(cur, UPSERT_ALERT, ALERT, alerts, UPSERT_TAIL))
            parts.append("COMMIT")
            cur.execute("".join(parts), prepare=False)
        except BaseException:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        last = chained.positions[-1]
        self._head = (last.seq, last.hash)
        if self._on_batch is not None:
            self._on_batch(len(batch))
        return chained.positions

    def _drop_connection(self) -> None:
        with self._turn:  # never under an inline caller's batch
            conn, self._pg = self._pg, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error as exc:
                log.warning("closing the audit write connection failed: %s", pg_error(exc))
