"""Machine output, valid against schemas/policy-test-report.schema.json (shipped)."""

from __future__ import annotations

import json
from typing import Any

from webhook.contracts.decision import Reason
from webhook.policytest.runner import CaseResult, SuiteResult

REPORT_VERSION = 1


def _reason(r: Reason) -> dict[str, Any]:
    return {
        "policy": r.policy,
        "action": r.action,
        "severity": r.severity,
        "file": r.file,
        "field": r.field,
        "message": r.message,
    }


def case_data(result: CaseResult) -> dict[str, Any]:
    c, d = result.case, result.decision
    return {
        "name": c.name,
        "line": c.line,
        "scenario": c.scenario,
        "env": c.env,
        "passed": result.passed,
        "failures": list(result.failures),
        "expected": c.expect.model_dump(mode="json", exclude_none=True),
        "decision": d.decision,
        "policy_bundle": d.policy_bundle,
        "reasons": [_reason(r) for r in d.reasons],
        "warnings": [_reason(r) for r in d.warnings],
        "audited": [_reason(r) for r in d.audited],
        "seconds": round(result.seconds, 6),
    }


def report(results: list[SuiteResult]) -> dict[str, Any]:
    total = sum(len(s.cases) for s in results)
    failed = sum(s.failed for s in results)
    return {
        "version": REPORT_VERSION,
        "summary": {
            "suites": len(results),
            "cases": total,
            "passed": total - failed,
            "failed": failed,
        },
        "suites": [
            {"file": s.file, "name": s.name, "cases": [case_data(c) for c in s.cases]}
            for s in results
        ],
    }


def render(results: list[SuiteResult]) -> str:
    return json.dumps(report(results), indent=2, sort_keys=True)
