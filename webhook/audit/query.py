"""AuditQuery -> one keyset SQL statement (newest first, `seq < cursor`, never OFFSET)."""

from __future__ import annotations

from webhook.audit import cursor as cursors
from webhook.audit.canonical import format_ts
from webhook.audit.models import AuditQuery
from webhook.audit.schema import RECORD_COLUMNS

_KIND = "records"


def build(query: AuditQuery) -> tuple[str, list[object]]:
    """SQL and parameters for limit + 1 rows (the extra row says whether a next page exists)."""
    where: list[str] = []
    params: list[object] = []
    if query.cursor is not None:
        (last,) = cursors.decode(_KIND, query.cursor, 1)
        where.append("seq < ?")
        params.append(cursors.decode_int(last, _KIND))
    if query.since is not None:
        where.append("ts >= ?")
        params.append(format_ts(query.since))
    if query.until is not None:
        where.append("ts < ?")
        params.append(format_ts(query.until))
    for column in ("scenario", "decision", "source", "env", "request_id"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if query.dry_run is not None:
        where.append("dry_run = ?")
        params.append(int(query.dry_run))
    if query.subject is not None:
        where.append("seq IN (SELECT seq FROM audit_subject WHERE value = ?)")
        params.append(query.subject)
    sql = f"SELECT {RECORD_COLUMNS} FROM audit_log"  # noqa: S608 - constant columns, bound values
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(query.limit + 1)
    return sql, params


def next_cursor(last_seq: int) -> str:
    """Cursor for the page after the one ending at `last_seq`."""
    return cursors.encode(_KIND, last_seq)
