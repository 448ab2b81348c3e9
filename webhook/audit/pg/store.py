"""`PostgresStore`: the audit store on PostgreSQL, the same interface as the SQLite store.

Appends go through `PostgresWriter` (one thread, group commit, advisory chain lock), so the
event loop only awaits a future; reads, acknowledgements and health checks use a small
psycopg_pool pool from the gate's worker threads (`Gate.offload`), never the loop. A database
that is down at start does not stop the gate from starting: it serves unready, every decision
BLOCKs, and the schema check runs again on the next connection.
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from webhook.audit import query as queries
from webhook.audit.chain import Anchor, walk
from webhook.audit.encode import Encoder
from webhook.audit.errors import AuditReadError, AuditWriteError
from webhook.audit.head import check_last, verify_head
from webhook.audit.models import AuditPage, AuditQuery, AuditRecord, VerifyResult
from webhook.audit.pg.alerts import PostgresAlertStore
from webhook.audit.pg.conn import CONNECT_TIMEOUT_S, connect, connect_kwargs, pg_error
from webhook.audit.pg.read import iter_postgres
from webhook.audit.pg.schema import (
    SCHEMA_VERSION,
    ensure_schema,
    grant_writer,
    schema_version,
    writer_problems,
    writer_refusals,
)
from webhook.audit.pg.writer import PostgresWriter
from webhook.audit.schema import RECORD_COLUMNS
from webhook.audit.store import AuditStore, _seq, _to_model
from webhook.audit.target import PostgresTarget, parse_target
from webhook.audit.writer import GroupCommitWriter
from webhook.errors import ConfigError

log = logging.getLogger("webhook.audit")

POOL_MAX = 4
#: a reader or health check waits at most this long for a pooled connection
POOL_TIMEOUT_S = float(CONNECT_TIMEOUT_S)


class PostgresStore(AuditStore):
    """One PostgreSQL database shared by every replica; see the module docstring."""

    def __init__(self, target: PostgresTarget) -> None:  # no super(): no SQLite file here
        self.target = target
        self._pid = os.getpid()
        self._encoder = Encoder()
        self._writer = self._new_writer()
        kwargs = {**connect_kwargs(target), "autocommit": True}
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            "",
            kwargs=kwargs,
            min_size=1,
            max_size=POOL_MAX,
            timeout=POOL_TIMEOUT_S,
            open=False,
            check=ConnectionPool.check_connection,
            name="migration-gate-audit",
        )
        self._pool.open(wait=False)
        self.alerts = PostgresAlertStore(self._connection, location=target.display)

    @property
    def location(self) -> str:
        return self.target.display

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self._pool.connection(timeout=POOL_TIMEOUT_S)

    def _new_writer(self) -> GroupCommitWriter:
        return PostgresWriter(self.target)

    def check_writable(self) -> None:
        """For /readyz: the database answers, holds our schema, and lets this role INSERT."""
        try:
            with self._connection() as conn:
                version = schema_version(conn)
                if version != SCHEMA_VERSION:
                    ensure_schema(conn)
                row = conn.execute("SELECT has_table_privilege('audit_log', 'INSERT')").fetchone()
                if row is None or not row[0]:
                    raise AuditWriteError(
                        "this role may not INSERT into audit_log", file=self.location
                    )
        except ConfigError as exc:
            raise AuditWriteError(exc.message, file=self.location) from None
        except (psycopg.Error, OSError) as exc:
            raise AuditWriteError(
                f"audit store unwritable: {pg_error(exc)}", file=self.location
            ) from None

    def close(self) -> None:
        if os.getpid() == self._pid:
            self._writer.close()
            self._pool.close()

    def query(self, query: AuditQuery) -> AuditPage:
        sql, params = queries.build(query, "postgresql")
        try:
            with self._connection() as conn:
                rows = conn.execute(sql.replace("?", "%s"), params).fetchall()
        except (psycopg.Error, OSError) as exc:
            raise AuditReadError(
                f"audit query failed: {pg_error(exc)}", file=self.location
            ) from None
        records = [_to_model(tuple(row)) for row in rows[: query.limit]]
        more = len(rows) > query.limit
        return AuditPage(
            records=records, next_cursor=queries.next_cursor(records[-1].seq) if more else None
        )

    def get(self, seq: int) -> AuditRecord | None:
        try:
            with self._connection() as conn:
                row = conn.execute(
                    f"SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq = %s",  # noqa: S608
                    (_seq(seq),),
                ).fetchone()
        except (psycopg.Error, OSError) as exc:
            raise AuditReadError(
                f"audit read failed: {pg_error(exc)}", file=self.location
            ) from None
        return None if row is None else _to_model(tuple(row))

    def verify(self, anchor: Anchor | None = None) -> VerifyResult:
        try:
            return walk(iter_postgres(self.target), anchor)
        except AuditReadError as exc:
            return VerifyResult(ok=False, checked=0, readable=False, reason=exc.diagnostics())

    def verify_head(self, last: int, anchor: Anchor | None = None) -> VerifyResult:
        check_last(last)
        try:
            with self._connection() as conn:
                # one REPEATABLE READ snapshot: the window is one consistent prefix of the chain
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    return verify_head(
                        lambda sql, params: [
                            tuple(r) for r in conn.execute(sql.replace("?", "%s"), params)
                        ],
                        last,
                        anchor,
                    )
                finally:
                    conn.execute("ROLLBACK")
        except (psycopg.Error, OSError) as exc:
            error = AuditReadError(f"unreadable: {pg_error(exc)}", file=self.location)
            return VerifyResult(ok=False, checked=0, readable=False, reason=error.diagnostics())


def open_postgres(target: PostgresTarget) -> PostgresStore:
    """The store, its schema created or migrated if this role may; ConfigError if unusable.

    An unreachable database is not a config error: the store opens, appends BLOCK until the
    database answers, and the schema is checked on the writer's first connection.
    """
    try:
        conn = connect(target)
    except (psycopg.Error, OSError) as exc:
        if _authentication(exc):  # a wrong password or role does not fix itself
            raise ConfigError(
                f"audit store refused us: {pg_error(exc)}", file=target.display
            ) from None
        log.error(
            "audit database unreachable at start (decisions BLOCK until it answers): %s",
            pg_error(exc),
            extra={"event": "audit-db-unreachable", "store": target.display},
        )
        return PostgresStore(target)
    try:
        ensure_schema(conn)
    except ConfigError as exc:
        raise ConfigError(exc.message, file=target.display) from None
    except psycopg.errors.InsufficientPrivilege:
        raise ConfigError(
            "the audit schema is missing or older than this gate and this role may not create "
            "it: install it as the tables' owner (docs/postgresql.md)",
            file=target.display,
        ) from None
    except psycopg.Error as exc:
        raise ConfigError(f"audit store unusable: {pg_error(exc)}", file=target.display) from None
    finally:
        conn.close()
    return PostgresStore(target)


def _authentication(exc: BaseException) -> bool:
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith("28") or "authentication failed" in str(exc)


def install(admin: str, *, writer_role: str | None = None) -> bool:
    """Create or migrate the schema as `admin` (the tables' owner) and grant `writer_role`.

    True if DDL ran. The gate then connects as `writer_role`: INSERT and SELECT only.
    """
    target = parse_target(admin)
    if not isinstance(target, PostgresTarget):
        raise ConfigError("install needs a postgresql:// URL", field="audit_db")
    try:
        with connect(target) as conn:
            created = ensure_schema(conn)
            if writer_role is not None:
                problems = writer_refusals(conn, writer_role)
                if not problems:
                    grant_writer(conn, writer_role)
                    problems = writer_problems(conn, writer_role)
                conn.commit()
                if problems:
                    raise ConfigError(
                        "the writer role is not usable: " + "; ".join(problems) + _OWNER_HINT,
                        file=target.display,
                    )
    except ConfigError as exc:
        raise ConfigError(exc.message, file=target.display) from None
    except psycopg.Error as exc:
        raise ConfigError(
            f"cannot install: {pg_error(exc)}{_install_hint(exc)}", file=target.display
        ) from None
    return created


_OWNER_HINT = " (run install as the role that owns the audit tables, see docs/postgresql.md)"


def _install_hint(exc: psycopg.Error) -> str:
    """What the DBA most likely has to change, for the errors install commonly meets."""
    if _authentication(exc) or "no password supplied" in str(exc):
        return (
            " (the owner's password is read from the file named by "
            "MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE, or from MIGRATION_GATE_AUDIT_DB_PASSWORD)"
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return _OWNER_HINT
    if isinstance(exc, psycopg.errors.UndefinedObject) and "role" in str(exc):
        return " (create the writer role first: CREATE ROLE ... LOGIN)"
    return ""
