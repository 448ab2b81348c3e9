"""Alerting series exist at 0 before the first event, and dry runs never count as integrity
failures (a `kubectl apply --dry-run=server` must not page anyone)."""

from __future__ import annotations

from webhook.contracts.decision import Decision, Reason
from webhook.server.metrics import GateMetrics


def _value(m: GateMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def _block(policy: str, severity: str = "critical") -> Decision:
    reason = Reason(policy=policy, severity=severity, field="f", message="m")  # type: ignore[arg-type]
    return Decision(
        request_id="r",
        timestamp="t",
        scenario="T2",
        decision="BLOCK",
        reasons=(reason,),
        subject={"env": "prod"},
        policy_bundle="sha256:x",
    )


def test_series_are_primed_at_zero() -> None:
    m = GateMetrics()
    m.prime([("tls-required", "high"), ("signature-required", "critical")])
    assert (
        _value(
            m,
            "migration_gate_decisions_total",
            scenario="T1",
            decision="BLOCK",
            source="admission",
            env="prod",
        )
        == 0.0
    )
    assert _value(m, "migration_gate_integrity_failures_total", check="wal-integrity") == 0.0
    assert _value(m, "migration_gate_integrity_failures_total", check="signature-required") == 0.0
    assert _value(m, "migration_gate_integrity_failures_total", check="tls-required") is None
    assert (
        _value(
            m,
            "migration_gate_policy_violations_total",
            policy="tls-required",
            env="prod",
            action="enforce",
        )
        == 0.0
    )


def test_dry_run_is_not_an_integrity_failure() -> None:
    m = GateMetrics()
    m.observe_decision(_block("wal-integrity"), source="admission", dry_run=True)
    assert _value(m, "migration_gate_integrity_failures_total", check="wal-integrity") == 0.0
    assert (
        _value(
            m, "migration_gate_dry_run_decisions_total", scenario="T2", decision="BLOCK", env="prod"
        )
        == 1.0
    )
    m.observe_decision(_block("wal-integrity"), source="admission", dry_run=False)
    assert _value(m, "migration_gate_integrity_failures_total", check="wal-integrity") == 1.0


def test_only_blocking_critical_reasons_count() -> None:
    m = GateMetrics()
    audited = Reason(
        policy="signature-required", severity="critical", field="f", message="m", action="audit"
    )
    d = Decision(
        request_id="r",
        timestamp="t",
        scenario="T1",
        decision="ALLOW",
        audited=(audited,),
        subject={"env": "staging"},
        policy_bundle="sha256:x",
    )
    m.observe_decision(d, source="api", dry_run=False)
    assert _value(m, "migration_gate_integrity_failures_total", check="signature-required") is None
    assert (
        _value(
            m,
            "migration_gate_policy_violations_total",
            policy="signature-required",
            env="staging",
            action="audit",
        )
        == 1.0
    )
