"""Typed views of what the store holds and returns; the API and UI render these directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from webhook.contracts.decision import Reason, Scenario, Source, Verdict

AlertSeverity = Literal["P1", "P2", "P3", "P4"]
AlertStatus = Literal["firing", "acknowledged"]

MAX_QUERY_LIMIT = 500


class AuditRecord(BaseModel):
    """One decision as stored and chained; `hash` covers every other field (docs/audit.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    ts: str
    request_id: str
    scenario: Scenario
    source: Source
    decision: Verdict
    env: str
    dry_run: bool
    subject: dict[str, str]
    reasons: tuple[Reason, ...]
    warnings: tuple[Reason, ...]
    audited: tuple[Reason, ...]
    digests: dict[str, str]
    policy_bundle: str
    prev_hash: str
    hash: str


class AuditQuery(BaseModel):
    """Filters for `AuditStore.query`; all optional, combined with AND; newest first.

    `subject` matches exactly one of the subject's identity values (app_id, source_db,
    target_db); `policy` a record with a reason, warning or audited finding of that policy id.
    `since` is inclusive, `until` exclusive; naive datetimes are taken as UTC.
    `cursor` is the opaque `next_cursor` of the previous page.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    since: datetime | None = None
    until: datetime | None = None
    scenario: Scenario | None = None
    decision: Verdict | None = None
    source: Source | None = None
    env: str | None = Field(default=None, max_length=64)
    subject: str | None = Field(default=None, min_length=1, max_length=256)
    request_id: str | None = Field(default=None, min_length=1, max_length=256)
    policy: str | None = Field(default=None, min_length=1, max_length=128)
    dry_run: bool | None = None
    limit: int = Field(default=50, ge=1, le=MAX_QUERY_LIMIT)
    cursor: str | None = Field(default=None, max_length=64)

    @field_validator("since", "until")
    @classmethod
    def _has_a_utc_time(cls, value: datetime | None) -> datetime | None:
        """A time with no UTC equivalent (9999-12-31T23:59-10:00) is refused here, naming the
        field, not an OverflowError while the query is built."""
        if value is not None and value.tzinfo is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError(f"{value.isoformat()} is out of range in UTC") from None
        return value


class AuditPage(BaseModel):
    """One page of records; `next_cursor` is None on the last page."""

    model_config = ConfigDict(frozen=True)

    records: list[AuditRecord]
    next_cursor: str | None = None


class VerifyResult(BaseModel):
    """Outcome of walking the chain. `readable` False means the store could not be read at all."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    readable: bool = True
    head_seq: int | None = None
    head_hash: str | None = None


class Alert(BaseModel):
    """Mutable alert state grouped by (scenario, subject_key, policy); not part of the chain."""

    model_config = ConfigDict(frozen=True)

    id: int
    scenario: Scenario
    subject_key: str
    subject: dict[str, str]
    policy: str
    severity: AlertSeverity
    status: AlertStatus
    count: int
    first_seen: str
    last_seen: str
    last_request_id: str
    last_seq: int
    message: str
    acked_by: str | None = None
    acked_at: str | None = None


class AlertPage(BaseModel):
    """One page of alerts, most urgent first (P1 before P4, newer before older)."""

    model_config = ConfigDict(frozen=True)

    alerts: list[Alert]
    next_cursor: str | None = None
