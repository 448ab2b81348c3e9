"""AuditQuery -> one keyset SQL statement (newest first, `seq < cursor`, never OFFSET)."""

from __future__ import annotations

import json
from typing import Literal

from webhook.audit import cursor as cursors
from webhook.audit.canonical import format_ts
from webhook.audit.models import AuditQuery
from webhook.audit.schema import RECORD_COLUMNS

_KIND = "records"
#: the record's finding lists a policy filter looks in
FINDINGS = ("reasons", "warnings", "audited")

Dialect = Literal["sqlite", "postgresql"]


def build(query: AuditQuery, dialect: Dialect = "sqlite") -> tuple[str, list[object]]:
    """SQL and parameters for limit + 1 rows (the extra row says whether a next page exists).

    Placeholders are `?` for both dialects (the PostgreSQL store swaps them for `%s`); only
    the policy filter differs: SQLite's json_each, PostgreSQL's jsonb containment.
    """
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
    if query.policy is not None:
        clause, values = _policy(query.policy, dialect)
        where.append(clause)
        params += values
    sql = f"SELECT {RECORD_COLUMNS} FROM audit_log"  # noqa: S608 - constant columns, bound values
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(query.limit + 1)
    return sql, params


def next_cursor(last_seq: int) -> str:
    """Cursor for the page after the one ending at `last_seq`."""
    return cursors.encode(_KIND, last_seq)


def _policy(policy: str, dialect: Dialect) -> tuple[str, list[object]]:
    """Records naming `policy` in any finding list, matched on the stored JSON itself."""
    if dialect == "postgresql":
        # the columns are the exact JSON text that was hashed; jsonb is only the lookup
        one = json.dumps([{"policy": policy}])
        clause = " OR ".join(f"{c}::jsonb @> ?::jsonb" for c in FINDINGS)
        return f"({clause})", [one] * len(FINDINGS)
    parts = " UNION ALL ".join(
        f"SELECT 1 FROM json_each(audit_log.{c}) WHERE json_extract(value, '$.policy') = ?"  # noqa: S608
        for c in FINDINGS
    )
    return f"EXISTS ({parts})", [policy] * len(FINDINGS)
