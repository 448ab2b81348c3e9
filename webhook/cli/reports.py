"""`validate`'s four outputs: text (a linter's lines), JSON, SARIF 2.1.0 and JUnit XML.

JSON is the Decision itself, one object per line per folder (one folder: exactly one object).
SARIF has one result per finding (a blocking reason is `error`, a warning `warning`, an
audit-only finding `note`), located at the folder's file, so CI annotates the file that is wrong.
JUnit has one test case per folder, failed when its decision is BLOCK. Both are validated in the
tests against the same committed schemas as `policy test`'s.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from webhook import __version__
from webhook.contracts.decision import Decision, Reason

Results = list[tuple[Path, Decision]]


def render_text(decision: Decision) -> str:
    subject = " ".join(f"{k}={v}" for k, v in sorted(decision.subject.items()))
    lines = [f"{decision.decision} {decision.scenario} {subject}".rstrip()]
    lines += [f"  error   {r.line()}" for r in decision.reasons]
    lines += [f"  warning {r.line()}" for r in decision.warnings]
    lines += [f"  audit   {r.line()}" for r in decision.audited]
    steps = ", ".join(f"{s.name} {'ok' if s.ok else 'FAILED'}" for s in decision.steps)
    lines.append(f"  steps: {steps}")
    lines.append(f"  policy bundle {decision.policy_bundle}  request {decision.request_id}")
    return "\n".join(lines)


def _text(results: Results) -> str:
    if len(results) == 1:
        return render_text(results[0][1])
    return "\n".join(f"{folder}\n{render_text(d)}" for folder, d in results)


def _uri(path: Path) -> str:
    if path.is_absolute():
        return path.as_uri()
    return quote(PurePosixPath(*path.parts).as_posix())


_LEVELS = (("reasons", "error"), ("warnings", "warning"), ("audited", "note"))


def _sarif_result(folder: Path, decision: Decision, reason: Reason, level: str) -> dict[str, Any]:
    target = folder / reason.file if reason.file else folder
    return {
        "ruleId": reason.policy,
        "level": level,
        "message": {"text": reason.line()},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(target)}}}],
        "properties": {
            "decision": decision.decision,
            "scenario": decision.scenario,
            "field": reason.field,
            "folder": str(folder),
            "requestId": decision.request_id,
            "policyBundle": decision.policy_bundle,
        },
    }


def sarif(results: Results) -> str:
    from webhook.policytest.reporters.sarif import SCHEMA  # noqa: PLC0415  (loads policytest)

    found = [
        _sarif_result(folder, d, r, level)
        for folder, d in results
        for group, level in _LEVELS
        for r in getattr(d, group)
    ]
    rules = sorted({r["ruleId"] for r in found})
    blocked = any(not d.allowed for _, d in results)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "migration-gate validate",
                        "version": __version__,
                        "rules": [{"id": rule} for rule in rules],
                    }
                },
                "invocations": [{"executionSuccessful": True, "exitCode": 1 if blocked else 0}],
                "results": found,
            }
        ],
    }
    return json.dumps(log, indent=2, sort_keys=True)


def junit(results: Results, scenario: str) -> str:
    import xml.etree.ElementTree as ET  # noqa: PLC0415  (start-up time: JUnit only)

    from webhook.policytest.reporters.junit import clean  # noqa: PLC0415  (loads policytest)

    blocked = sum(not d.allowed for _, d in results)
    name = f"migration-gate validate {scenario}"
    root = ET.Element(
        "testsuites",
        {"name": name, "tests": str(len(results)), "failures": str(blocked), "errors": "0"},
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": name,
            "tests": str(len(results)),
            "failures": str(blocked),
            "errors": "0",
            "skipped": "0",
            "id": "0",
        },
    )
    for folder, d in results:
        case = ET.SubElement(suite, "testcase", {"name": clean(str(folder)), "classname": name})
        if not d.allowed:
            first = d.reasons[0].line() if d.reasons else "BLOCK"
            failure = ET.SubElement(case, "failure", {"type": "BLOCK", "message": clean(first)})
            failure.text = clean("\n".join(r.line() for r in d.reasons))
        out = ET.SubElement(case, "system-out")
        out.text = clean(render_text(d))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def render(results: Results, output: str, *, scenario: str) -> str:
    if output == "json":
        return "\n".join(d.to_json() for _, d in results)
    if output == "sarif":
        return sarif(results)
    if output == "junit":
        return junit(results, scenario)
    return _text(results)
