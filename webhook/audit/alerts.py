"""Alerts: mutable operator state derived from decisions, written in the audit transaction.

Grouped by (scenario, subject key, policy). Severity: P1 critical reason (integrity, signature)
in prod, P2 other prod BLOCK, P3 staging BLOCK, P4 warn-mode finding. An env other than
"staging" (missing, unknown) is treated as prod: an unlabelled subject must not look harmless.
Alert updates are not chained (docs/audit.md); the decisions that caused them are.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from webhook.audit import bound
from webhook.audit import cursor as cursors
from webhook.audit.canonical import canonical_json, utc_now
from webhook.audit.errors import AlertNotFoundError, AuditReadError, AuditWriteError
from webhook.audit.models import MAX_QUERY_LIMIT, Alert, AlertPage, AlertSeverity, AlertStatus
from webhook.audit.schema import insert_rows
from webhook.audit.text import cap
from webhook.contracts.decision import Decision, Reason
from webhook.errors import InputError

_SUBJECT_KEY_FIELDS = ("app_id", "source_db", "target_db", "env")
_MAX_ACTOR = 200
#: an alert message shows this many reason lines, then counts the rest
MAX_ALERT_LINES = 10
MAX_ALERT_LINE = 512
MAX_ALERT_MESSAGE = 4096
#: alert groups one decision may open or update (one per policy)
MAX_ALERT_GROUPS = 64
_ALERT_COLUMNS = (
    "id, scenario, subject_key, subject, policy, severity, status, count, first_seen, last_seen, "
    "last_request_id, last_seq, message, acked_by, acked_at"
)


@dataclass(frozen=True, slots=True)
class AlertHit:
    """One alert group a decision fires, computed before the transaction (cheap in it)."""

    scenario: str
    subject_key: str
    subject_json: str
    policy: str
    severity: AlertSeverity
    message: str


def subject_key(subject: dict[str, str]) -> str:
    """Stable group key: identity fields and env, not version (a new version is the same app)."""
    parts = [f"{k}={subject[k]}" for k in _SUBJECT_KEY_FIELDS if subject.get(k)]
    return " ".join(parts) if parts else canonical_json(subject)


def _by_policy(reasons: Sequence[Reason]) -> dict[str, list[Reason]]:
    """Reasons grouped by policy (as recorded: `bound.policy_of`); at most MAX_ALERT_GROUPS
    groups, the first policies seen. Cheap per reason: only a group's first lines are shown."""
    grouped: dict[str, list[Reason]] = {}
    for item in reasons:
        policy = bound.policy_of(item)
        group = grouped.get(policy)
        if group is None:
            if len(grouped) >= MAX_ALERT_GROUPS:
                continue
            group = grouped[policy] = []
        group.append(item)
    return grouped


def _message(reasons: Sequence[Reason]) -> str:
    """The group's reason lines, bounded: a decision with 10,000 findings is one short message."""
    shown = [bound.reason(r) for r in reasons[:MAX_ALERT_LINES]]
    lines = [cap(r.line(), MAX_ALERT_LINE) for r in shown]
    more = len(reasons) - len(lines)
    return cap("; ".join(lines) + (f"; and {more} more" if more else ""), MAX_ALERT_MESSAGE)


def plan_alerts(decision: Decision, *, dry_run: bool) -> list[AlertHit]:
    """The alert groups this decision opens or updates; none for a dry run."""
    if dry_run or (decision.decision != "BLOCK" and not decision.warnings):
        return []  # nothing fires: skip the key and subject encoding
    prod = decision.subject.get("env") != "staging"
    key = subject_key(decision.subject)
    subject_json = canonical_json(decision.subject)
    hits: list[AlertHit] = []
    if decision.decision == "BLOCK":
        for policy, reasons in _by_policy(decision.reasons).items():
            critical = any(bound.severity_of(r) == "critical" for r in reasons)
            severity: AlertSeverity = ("P1" if critical else "P2") if prod else "P3"
            message = _message(reasons)
            hits.append(AlertHit(decision.scenario, key, subject_json, policy, severity, message))
    blocking = {h.policy for h in hits}
    for policy, reasons in _by_policy(decision.warnings).items():
        if policy not in blocking:
            message = _message(reasons)
            hits.append(AlertHit(decision.scenario, key, subject_json, policy, "P4", message))
    return hits


_UPSERT_HEAD = (
    "INSERT INTO alerts (scenario, subject_key, subject, policy, severity, status, count, "
    "first_seen, last_seen, last_request_id, last_seq, message)"
)
# An acknowledged group fires again; triggers write opened/refired/acknowledged to alert_events.
_UPSERT_TAIL = (
    "ON CONFLICT (scenario, subject_key, policy) DO UPDATE SET count = count + 1, "
    "last_seen = excluded.last_seen, last_request_id = excluded.last_request_id, "
    "last_seq = excluded.last_seq, message = excluded.message, subject = excluded.subject, "
    "severity = MIN(severity, excluded.severity), status = 'firing', acked_by = NULL, "
    "acked_at = NULL"
)


def alert_rows(
    hits: Sequence[AlertHit], *, request_id: str, seq: int, ts: str
) -> list[tuple[object, ...]]:
    """Rows for `apply_alerts`, one per hit, once the record's seq and ts are known."""
    return [
        (
            h.scenario,
            h.subject_key,
            h.subject_json,
            h.policy,
            h.severity,
            "firing",
            1,
            ts,
            ts,
            request_id,
            seq,
            h.message,
        )
        for h in hits
    ]


def apply_alerts(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Open or update every group in one statement, in the transaction of the records."""
    insert_rows(conn, _UPSERT_HEAD, rows, _UPSERT_TAIL)


def _row_to_alert(row: sqlite3.Row | tuple[object, ...]) -> Alert:
    (
        aid,
        scenario,
        key,
        subject,
        policy,
        severity,
        status,
        count,
        first,
        last,
        req,
        seq,
        msg,
        by,
        at,
    ) = tuple(row)
    return Alert.model_validate(
        {
            "id": aid,
            "scenario": scenario,
            "subject_key": key,
            "subject": _loads_subject(cast(str, subject)),
            "policy": policy,
            "severity": severity,
            "status": status,
            "count": count,
            "first_seen": first,
            "last_seen": last,
            "last_request_id": req,
            "last_seq": seq,
            "message": msg,
            "acked_by": by,
            "acked_at": at,
        }
    )


def _loads_subject(text: str) -> dict[str, str]:
    value = json.loads(text)
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


#: alert ids are SQLite rowids: 1 .. 2**63 - 1
MAX_ALERT_ID = (1 << 63) - 1


def _check_id(alert_id: int) -> None:
    """An id SQLite cannot even hold names no alert (not an OverflowError from the driver)."""
    if (
        isinstance(alert_id, bool)
        or not isinstance(alert_id, int)
        or not 1 <= alert_id <= MAX_ALERT_ID
    ):
        raise AlertNotFoundError(f"no alert with id {str(alert_id)[:32]}", field="alert_id")


def check_ack(alert_id: int, who: str) -> None:
    """The arguments of an acknowledgement, checked the same way on every backend."""
    _check_id(alert_id)
    if not who or len(who) > _MAX_ACTOR or not who.isprintable():
        raise InputError(
            f"acknowledging user must be 1..{_MAX_ACTOR} printable characters", field="who"
        )


class AlertStore:
    """List and acknowledge alerts; each call uses its own short connection (thread-safe)."""

    def __init__(self, connect: Callable[[bool], sqlite3.Connection], *, location: str) -> None:
        self._connect = connect
        self._location = location

    def _read(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        try:
            conn = self._connect(True)
            try:
                return list(conn.execute(sql, params).fetchall())
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise AuditReadError(f"cannot read alerts: {exc}", file=self._location) from None

    def list(
        self,
        status: AlertStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> AlertPage:
        """Most urgent first (severity, then newest id); keyset on (severity, id)."""
        if status not in (None, "firing", "acknowledged"):
            raise InputError(f"unknown alert status {status!r}", field="status")
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise InputError(f"limit must be 1..{MAX_QUERY_LIMIT} (got {limit})", field="limit")
        where: list[str] = []
        params: list[object] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if cursor is not None:
            sev, last_id = cursors.decode("alerts", cursor, 2)
            if sev not in ("P1", "P2", "P3", "P4"):
                raise InputError("invalid cursor for alerts", field="cursor")
            where.append("(severity > ? OR (severity = ? AND id < ?))")
            params += [sev, sev, cursors.decode_int(last_id, "alerts")]
        sql = f"SELECT {_ALERT_COLUMNS} FROM alerts"  # noqa: S608 - constant columns, bound values
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY severity ASC, id DESC LIMIT ?"
        params.append(limit + 1)
        rows = self._read(sql, params)
        alerts = [_row_to_alert(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            tail = alerts[-1]
            next_cursor = cursors.encode("alerts", tail.severity, tail.id)
        return AlertPage(alerts=alerts, next_cursor=next_cursor)

    def get(self, alert_id: int) -> Alert:
        """One alert by id; AlertNotFoundError if there is none."""
        _check_id(alert_id)
        rows = self._read(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?",  # noqa: S608 - constant
            (alert_id,),
        )
        if not rows:
            raise AlertNotFoundError(f"no alert with id {alert_id}", field="alert_id")
        return _row_to_alert(rows[0])

    def ack(self, alert_id: int, who: str) -> Alert:
        """Acknowledge a firing alert (no-op on an acknowledged one); kept in alert_events."""
        check_ack(alert_id, who)
        try:
            conn = self._connect(False)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # Only a firing alert changes; a trigger records the ack in alert_events.
                    conn.execute(
                        "UPDATE alerts SET status = 'acknowledged', acked_by = ?, acked_at = ? "
                        "WHERE id = ? AND status = 'firing'",
                        (who, utc_now(), alert_id),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise AuditWriteError(f"cannot acknowledge alert: {exc}", file=self._location) from None
        return self.get(alert_id)
