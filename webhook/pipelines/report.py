"""Collects steps, reasons and digests while a pipeline runs, then freezes them into a Decision.

Steps keep running after a failure so an operator sees every problem at once; `run` turns any
unexpected exception inside a step into an `internal-error` reason (fail closed).

The deadline holds everywhere, not only between steps: before and after each step, inside the
steps' loops (`check_deadline`, also handed to the policy loop) and in `finish`, so a decision
reached after its deadline is a BLOCK however far it got. `clock` is injectable for tests.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from webhook.contracts.decision import Decision, Reason, Scenario, Severity, Step
from webhook.contracts.env import Env
from webhook.contracts.reasons import builtin_reason
from webhook.errors import DeadlineExceeded, GateError, InputError, IntegrityError
from webhook.policies import Finding


def error_reason(exc: GateError, *, severity: Severity | None = None) -> Reason:
    """A GateError as a blocking reason under the error's (registered) policy id."""
    sev: Severity = severity or ("critical" if isinstance(exc, IntegrityError) else "high")
    return builtin_reason(
        exc.policy, exc.message, field=exc.field or "", file=exc.file, severity=sev
    )


#: how a finding that did not block introduces itself, by action
_NOT_ENFORCED: dict[str, str] = {
    "warn": "warning in {env} (not enforced)",
    "audit": "audit-only in {env} (recorded, not enforced)",
}


def worded(message: str, *, action: str, env: str) -> str:
    """A warn or audit finding says what it is: checks word every finding as a requirement
    ("staging requires X"), which reads as a refusal next to an ALLOW. Enforced ones keep it.
    """
    label = _NOT_ENFORCED.get(action)
    if label is None:
        return message
    head = label.format(env=env)
    for claim in (f"{env} requires ", f"{env} forbids "):
        if message.startswith(claim):
            verb = "expected " if claim.endswith("requires ") else "flagged "
            return f"{head}: {verb}{message.removeprefix(claim)}"
    return f"{head}: {message}"


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Report:
    def __init__(
        self,
        *,
        scenario: Scenario,
        request_id: str,
        bundle_digest: str,
        now: datetime,
        dry_run: bool,
        deadline: float | None,
        env: Env = "prod",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scenario = scenario
        #: the door's env: the one policies run for and the decision's subject names
        self.env: Env = env
        self.request_id = request_id
        self.bundle_digest = bundle_digest
        self.now = now
        self.dry_run = dry_run
        self.deadline = deadline
        #: monotonic seconds, the clock `deadline` is on
        self.clock = clock
        self.reasons: list[Reason] = []
        self.warnings: list[Reason] = []
        self.audited: list[Reason] = []
        self.steps: list[Step] = []
        self.subject: dict[str, str] = {"env": env}
        self.digests: dict[str, str] = {}
        self._deadline_hit = False

    def block(
        self,
        policy: str,
        message: str,
        *,
        field: str = "",
        file: str | None = None,
        severity: Severity = "high",
    ) -> None:
        self.reasons.append(
            builtin_reason(policy, message, field=field, file=file, severity=severity)
        )

    def extend(self, reasons: Iterable[Reason]) -> None:
        """Record reasons a pure step function returned (each one BLOCKs)."""
        self.reasons.extend(reasons)

    def error(self, exc: GateError, *, severity: Severity | None = None) -> None:
        """Record a GateError as a blocking reason under the error's policy id."""
        self.reasons.append(error_reason(exc, severity=severity))

    def add_findings(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            reason = Reason(
                policy=f.policy,
                severity=f.severity,
                field=f.field,
                message=worded(f.message, action=f.action, env=self.env),
                file=f.file,
                action=f.action,
            )
            if f.action == "enforce":
                self.reasons.append(reason)
            elif f.action == "warn":
                self.warnings.append(reason)
            elif f.action == "audit":
                self.audited.append(reason)

    def document(
        self, data: bytes | None, *, file: str, parse: Callable[..., Any], digest: bool = True
    ) -> Any:
        """Parse one input document; a missing or unparseable one becomes a reason, not a raise.

        Returns the parsed data, or None when there is nothing later steps can read.
        """
        if data is None:
            self.block("input-missing", "file not provided", file=file)
            return None
        if digest:
            self.digests[file] = "sha256:" + hashlib.sha256(data).hexdigest()
        try:
            return parse(data, file=file)
        except InputError as exc:
            self.error(exc)
            return None

    def expired(self) -> bool:
        return self.deadline is not None and self.clock() > self.deadline

    def monotonic_deadline(self) -> float | None:
        """The deadline on time.monotonic, for I/O helpers that poll it themselves."""
        if self.deadline is None:
            return None
        if self.clock is time.monotonic:
            return self.deadline
        return time.monotonic() + (self.deadline - self.clock())

    def check_deadline(self, what: str = "") -> None:
        """Raise DeadlineExceeded once the deadline has passed (call it inside long loops)."""
        if self.expired():
            where = f" ({what})" if what else ""
            raise DeadlineExceeded(f"the engine ran past its deadline{where}; decision is BLOCK")

    def run(self, step: str, body: Callable[[], None]) -> None:
        """Run one pipeline step; record it; never let an exception escape as an ALLOW."""
        if self._deadline_hit:
            self.steps.append(Step(name=step, ok=False, detail="skipped: deadline exceeded"))
            return
        before = len(self.reasons)
        try:
            self.check_deadline()
            body()
            # a step that finished after the deadline did not finish in time
            self.check_deadline("when the step ended")
        except DeadlineExceeded as exc:
            self._deadline_hit = True
            self.block("deadline-exceeded", exc.message, field=step, severity="high")
        except GateError as exc:
            self.error(exc)
        except Exception as exc:  # fail closed on anything unexpected
            self.block(
                "internal-error",
                f"step {step!r} failed: {type(exc).__name__}: {exc}",
                field=step,
            )
        self.steps.append(Step(name=step, ok=len(self.reasons) == before))

    def finish(self) -> Decision:
        if not self.steps:
            self.block("internal-error", "no pipeline step ran", field="pipeline")
        if not self._deadline_hit and self.expired():
            self._deadline_hit = True
            self.block(
                "deadline-exceeded",
                "the decision was finished after its deadline; decision is BLOCK",
                field="finish",
            )
        return Decision(
            request_id=self.request_id,
            timestamp=rfc3339(self.now),
            scenario=self.scenario,
            decision="BLOCK" if self.reasons else "ALLOW",
            mode="dry-run" if self.dry_run else "enforce",
            reasons=tuple(self.reasons),
            warnings=tuple(self.warnings),
            audited=tuple(self.audited),
            steps=tuple(self.steps),
            subject=dict(self.subject),
            digests=dict(sorted(self.digests.items())),
            policy_bundle=self.bundle_digest,
        )
