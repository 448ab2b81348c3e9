"""Human output: one line per case, the failures and the decision's findings under a failed one."""

from __future__ import annotations

import re

from webhook.policytest.runner import CaseResult, SuiteResult

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """Control characters of a suite's text escaped: a terminal never runs a suite's escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def where(case: CaseResult) -> str:
    c = case.case
    return f"{c.suite_file}:{c.line}" if c.line else c.suite_file


def render(results: list[SuiteResult]) -> str:
    lines: list[str] = []
    for suite in results:
        for case in suite.cases:
            c = case.case
            verdict = case.decision.decision
            head = f"{shown(where(case))}: {shown(c.name)} [{c.scenario} {c.env}] {verdict}"
            lines.append(("PASS " if case.passed else "FAIL ") + head)
            if case.passed:
                continue
            lines += [f"    {shown(f)}" for f in case.failures]
            d = case.decision
            lines += [f"      error   {r.line()}" for r in d.reasons]
            lines += [f"      warning {r.line()}" for r in d.warnings]
            lines += [f"      audit   {r.line()}" for r in d.audited]
    total = sum(len(s.cases) for s in results)
    failed = sum(s.failed for s in results)
    lines.append(
        f"{total} case(s) in {len(results)} suite(s): {total - failed} passed, {failed} failed"
    )
    return "\n".join(lines)
