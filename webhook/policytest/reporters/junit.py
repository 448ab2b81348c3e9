"""JUnit XML in the Jenkins/Ant shape (junit-10.xsd): one <testsuite> per suite file.

Text from suites and decisions may hold characters XML 1.0 cannot carry at all (control
characters, lone surrogates); they are replaced, never written, so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from webhook.policytest.reporters.text import where
from webhook.policytest.runner import SuiteResult

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def render(results: list[SuiteResult]) -> str:
    total = sum(len(s.cases) for s in results)
    failed = sum(s.failed for s in results)
    root = ET.Element(
        "testsuites",
        {
            "name": "migration-gate policy test",
            "tests": str(total),
            "failures": str(failed),
            "errors": "0",
            "time": _seconds(sum(s.seconds for s in results)),
        },
    )
    for i, suite in enumerate(results):
        node = ET.SubElement(
            root,
            "testsuite",
            {
                "name": clean(suite.name),
                "tests": str(len(suite.cases)),
                "failures": str(suite.failed),
                "errors": "0",
                "skipped": "0",
                "time": _seconds(suite.seconds),
                "id": str(i),
                "file": clean(suite.file),
            },
        )
        for case in suite.cases:
            c = case.case
            tc = ET.SubElement(
                node,
                "testcase",
                {
                    "name": clean(f"{c.name} [{c.env}]"),
                    "classname": clean(suite.name),
                    "time": _seconds(case.seconds),
                },
            )
            if not case.passed:
                failure = ET.SubElement(
                    tc, "failure", {"type": "expectation", "message": clean(case.failures[0])}
                )
                failure.text = clean(where(case) + "\n" + "\n".join(case.failures))
            out = ET.SubElement(tc, "system-out")
            d = case.decision
            lines = [f"{d.decision} {d.scenario} bundle {d.policy_bundle}"]
            lines += [f"error   {r.line()}" for r in d.reasons]
            lines += [f"warning {r.line()}" for r in d.warnings]
            lines += [f"audit   {r.line()}" for r in d.audited]
            out.text = clean("\n".join(lines))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
