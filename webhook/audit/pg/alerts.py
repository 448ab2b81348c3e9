"""Alerts on PostgreSQL: the same listing and acknowledgement as SQLite, over the pool.

One upsert statement may not touch a row twice in PostgreSQL, so a batch's hits on the same
group are merged first (`merge_alert_rows`): counts add up, the last hit's fields win, the
most urgent severity stays; the result equals SQLite's hit-by-hit upsert.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from webhook.audit.alerts import AlertStore, check_ack
from webhook.audit.canonical import utc_now
from webhook.audit.errors import AuditReadError, AuditWriteError
from webhook.audit.models import Alert
from webhook.audit.pg.conn import pg_error

PoolConnection = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


def merge_alert_rows(rows: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """`alerts.alert_rows` output with one row per (scenario, subject_key, policy)."""
    merged: dict[tuple[object, object, object], list[object]] = {}
    for row in rows:
        key = (row[0], row[1], row[3])
        found = merged.get(key)
        if found is None:
            merged[key] = list(row)
            continue
        found[2] = row[2]  # subject
        found[4] = min(str(found[4]), str(row[4]))  # severity: P1 < P2 < ...
        found[6] = int(str(found[6])) + int(str(row[6]))  # count
        found[8], found[9], found[10], found[11] = row[8], row[9], row[10], row[11]
    return [tuple(v) for v in merged.values()]


class PostgresAlertStore(AlertStore):
    """`AlertStore` whose reads and acks go through the PostgreSQL pool."""

    def __init__(self, connection: PoolConnection, *, location: str) -> None:
        super().__init__(_unused, location=location)
        self._connection = connection

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        try:
            with self._connection() as conn:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())
        except (psycopg.Error, OSError) as exc:
            raise AuditReadError(
                f"cannot read alerts: {pg_error(exc)}", file=self._location
            ) from None

    def ack(self, alert_id: int, who: str) -> Alert:
        """Acknowledge a firing alert; visible to every replica at once (one database)."""
        check_ack(alert_id, who)
        try:
            with self._connection() as conn, conn.transaction():
                conn.execute(
                    "UPDATE alerts SET status = 'acknowledged', acked_by = %s, acked_at = %s "
                    "WHERE id = %s AND status = 'firing'",
                    (who, utc_now(), alert_id),
                )
        except (psycopg.Error, OSError) as exc:
            raise AuditWriteError(
                f"cannot acknowledge alert: {pg_error(exc)}", file=self._location
            ) from None
        return self.get(alert_id)


def _unused(readonly: bool) -> Any:
    raise RuntimeError("PostgreSQL alerts use the pool, not an SQLite connection")
