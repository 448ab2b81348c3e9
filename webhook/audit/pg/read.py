"""Streaming reads of a PostgreSQL chain (verify, export, migrate): one snapshot, seq order.

A REPEATABLE READ, READ ONLY transaction sees one consistent prefix of the chain even while
replicas append (each batch commits under the chain lock, so commits land in seq order); a
named server-side cursor keeps memory flat however long the chain is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from webhook.audit.chain import row_to_record
from webhook.audit.errors import AuditReadError
from webhook.audit.pg.conn import connect, pg_error
from webhook.audit.pg.schema import schema_version
from webhook.audit.schema import RECORD_COLUMNS
from webhook.audit.target import PostgresTarget
from webhook.errors import ConfigError

FETCH_ROWS = 2000


def iter_postgres(target: PostgresTarget) -> Iterator[dict[str, Any]]:
    """Records in seq order; AuditReadError (naming the store, never its password) if unreadable."""
    try:
        conn = connect(target)
    except (psycopg.Error, OSError) as exc:
        raise AuditReadError(f"cannot open: {pg_error(exc)}", file=target.display) from None
    try:
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            try:
                if schema_version(conn) is None:
                    raise AuditReadError("no audit store in this database", file=target.display)
            except ConfigError as exc:
                raise AuditReadError(exc.message, file=target.display) from None
            with conn.cursor(name="mg_audit_read") as cur:
                cur.itersize = FETCH_ROWS
                cur.execute(f"SELECT {RECORD_COLUMNS} FROM audit_log ORDER BY seq")  # noqa: S608
                for row in cur:
                    yield row_to_record(row)
        except psycopg.Error as exc:
            raise AuditReadError(f"unreadable: {pg_error(exc)}", file=target.display) from None
    finally:
        conn.close()
