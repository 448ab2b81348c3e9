"""Real decisions for the PostgreSQL tests (the audit unit helpers import CLI code)."""

from __future__ import annotations

from webhook.contracts.decision import Decision, Reason, Verdict


def make_decision(
    i: int = 0, *, verdict: Verdict = "ALLOW", reasons: tuple[Reason, ...] = (), app: str = "pay"
) -> Decision:
    return Decision.model_validate(
        {
            "request_id": f"req-{i:06d}",
            "timestamp": "2026-11-25T12:00:00Z",
            "scenario": "T1",
            "decision": verdict,
            "reasons": reasons,
            "subject": {"app_id": app, "version": "4.2.0", "env": "prod"},
            "digests": {"app-config.yaml": "sha256:" + "ab" * 32},
            "policy_bundle": "sha256:" + "cd" * 32,
        }
    )


def reason(policy: str, severity: str = "high") -> Reason:
    return Reason.model_validate(
        {
            "policy": policy,
            "severity": severity,
            "field": "tls.enabled",
            "message": f"{policy} violated (found false)",
            "file": "app-config.yaml",
            "action": "enforce",
        }
    )
