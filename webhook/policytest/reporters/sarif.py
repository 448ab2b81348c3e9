"""SARIF 2.1.0 (valid against the OASIS schema): one result per case, located at its suite line.

A failed case is `kind: fail`, `level: error`; a passed one `kind: pass`, `level: none`, so a
code-scanning upload shows the failures and the log still records every case that ran.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from webhook import __version__
from webhook.policytest.runner import CaseResult, SuiteResult

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
RULE_ID = "policy-test-case"


def _uri(file: str) -> str:
    path = Path(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(PurePosixPath(*path.parts).as_posix())


def _result(case: CaseResult) -> dict[str, Any]:
    c = case.case
    text = f"{c.name} [{c.scenario} {c.env}]: {case.decision.decision}"
    if case.failures:
        text += ": " + "; ".join(case.failures)
    location: dict[str, Any] = {"artifactLocation": {"uri": _uri(c.suite_file)}}
    if c.line:
        location["region"] = {"startLine": c.line}
    return {
        "ruleId": RULE_ID,
        "ruleIndex": 0,
        "kind": "fail" if case.failures else "pass",
        "level": "error" if case.failures else "none",
        "message": {"text": text},
        "locations": [{"physicalLocation": location}],
        "properties": {
            "decision": case.decision.decision,
            "env": c.env,
            "scenario": c.scenario,
            "policyBundle": case.decision.policy_bundle,
            "policies": case.decision.policy_ids(),
        },
    }


def render(results: list[SuiteResult]) -> str:
    failed = sum(s.failed for s in results)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "migration-gate policy test",
                        "version": __version__,
                        "rules": [
                            {
                                "id": RULE_ID,
                                "name": "PolicyTestCase",
                                "shortDescription": {
                                    "text": "A policy test case's decision matches its expectation"
                                },
                                "fullDescription": {
                                    "text": "The case ran through the gate's engine; its decision "
                                    "and policy ids must be the ones the suite expects."
                                },
                                "defaultConfiguration": {"level": "error"},
                            }
                        ],
                    }
                },
                "invocations": [{"executionSuccessful": True, "exitCode": 1 if failed else 0}],
                "results": [_result(c) for s in results for c in s.cases],
            }
        ],
    }
    return json.dumps(log, indent=2, sort_keys=True)
