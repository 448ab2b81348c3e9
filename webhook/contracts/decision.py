"""The Decision every door returns (docs/contracts.md); the one wire format of a verdict."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from webhook.contracts.redact import MAX_SHOWN, is_secret_path, redact_text

Scenario = Literal["T1", "T2"]
Verdict = Literal["ALLOW", "BLOCK"]
Severity = Literal["critical", "high", "medium", "low", "info"]
Action = Literal["enforce", "warn", "audit", "off"]
Source = Literal["admission", "api", "ui", "cli"]


class Reason(BaseModel):
    """Why a decision went the way it did: which policy, which file and field, found vs expected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy: str
    severity: Severity
    field: str
    message: str
    file: str | None = None
    action: Action = "enforce"

    @field_validator("field", "file")
    @classmethod
    def _safe_where(cls, value: str | None) -> str | None:
        """Field paths and file names come from input too (a secret-shaped key, a tar member)."""
        return redact_text(value) if value else value

    @field_validator("message")
    @classmethod
    def _safe_message(cls, value: str, info: ValidationInfo) -> str:
        """The root of "no secret echoes": every raiser's message is redacted and capped here."""
        where = info.data.get("field")
        return redact_text(value, secret=isinstance(where, str) and is_secret_path(where))

    def line(self) -> str:
        """Linter-style one-liner: `file: field: [policy] message`."""
        where = ": ".join(p for p in (self.file, self.field) if p)
        return (
            f"{where}: [{self.policy}] {self.message}"
            if where
            else f"[{self.policy}] {self.message}"
        )


class Step(BaseModel):
    """One pipeline step and whether it passed; an operator sees all steps, even after a failure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    ok: bool
    detail: str | None = None

    @field_validator("detail")
    @classmethod
    def _safe_detail(cls, value: str | None) -> str | None:
        return redact_text(value) if value else value


class Decision(BaseModel):
    """A verdict with every reason. Identical inputs give identical JSON apart from id and time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    timestamp: str
    scenario: Scenario
    decision: Verdict
    mode: Literal["enforce", "dry-run"] = "enforce"
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[Reason, ...] = ()
    audited: tuple[Reason, ...] = Field(
        default=(), description="audit-mode findings, recorded only"
    )
    steps: tuple[Step, ...] = ()
    subject: dict[str, str] = Field(default_factory=dict)
    digests: dict[str, str] = Field(default_factory=dict)
    policy_bundle: str

    @field_validator("subject")
    @classmethod
    def _safe_subject(cls, value: dict[str, str]) -> dict[str, str]:
        """The subject is copied from the unvalidated manifest: a version may hold anything."""
        return {k: redact_text(v, limit=MAX_SHOWN * 4) for k, v in value.items()}

    @property
    def allowed(self) -> bool:
        return self.decision == "ALLOW"

    def policy_ids(self) -> list[str]:
        """Distinct policy ids of the blocking reasons, in report order."""
        return list(dict.fromkeys(r.policy for r in self.reasons))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, compact) so reports are byte-comparable."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
