"""Every alert's runbook_url anchor lands on a heading of docs/runbook.md.

The PrometheusRule links each alert to `<monitoring.runbookUrl>#<anchor>`; those anchors once
pointed at headings that existed in no document. GitHub turns a heading into its anchor by
lowercasing it (alert names have no spaces or punctuation), so the check is exact and cheap: it
reads the chart template and the runbook as text, with no helm needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULE = ROOT / "charts" / "migration-gate" / "templates" / "prometheusrule.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"
VALUES = ROOT / "charts" / "migration-gate" / "values.yaml"


def anchors() -> dict[str, str]:
    """alert name -> the anchor its runbook_url points at, in template order."""
    out: dict[str, str] = {}
    alert = None
    for line in RULE.read_text().splitlines():
        if m := re.match(r"\s*- alert: (\S+)\s*$", line):
            alert = m.group(1)
        elif m := re.match(r"\s*runbook_url: \{\{ \$runbook \}\}#(\S+)\s*$", line):
            assert alert is not None, f"{RULE}: runbook_url before any alert: {line!r}"
            assert alert not in out, f"{RULE}: {alert} has two runbook_url annotations"
            out[alert] = m.group(1)
    return out


def heading_anchors() -> set[str]:
    """GitHub anchors of the runbook's `##` headings (lowercased; fenced code is skipped)."""
    found: set[str] = set()
    fence = False
    for line in RUNBOOK.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"## (.+?)\s*$", line)):
            text = m.group(1).lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


def test_every_alert_has_a_runbook_url() -> None:
    alerts = re.findall(r"^\s*- alert: (\S+)\s*$", RULE.read_text(), flags=re.M)
    assert len(alerts) >= 9, alerts
    assert sorted(anchors()) == sorted(alerts), f"{RULE}: an alert lacks its runbook_url"


def test_every_runbook_anchor_has_a_heading() -> None:
    headings = heading_anchors()
    missing = {alert: a for alert, a in anchors().items() if a not in headings}
    assert not missing, f"{RUNBOOK}: no `## ` heading for {missing}"


def test_anchor_is_the_alert_name_lowercased() -> None:
    for alert, anchor in anchors().items():
        assert anchor == alert.lower(), f"{RULE}: {alert} links to #{anchor}"


def test_default_runbook_url_is_the_runbook() -> None:
    values = yaml.safe_load(VALUES.read_text())
    url = values["monitoring"]["runbookUrl"]
    assert (ROOT / url).resolve() == RUNBOOK.resolve(), url


def test_every_runbook_link_in_the_chart_lands() -> None:
    """Other chart annotations and comments that name docs/runbook.md#... must land too."""
    chart = ROOT / "charts" / "migration-gate"
    links = {
        (path.relative_to(ROOT), anchor)
        for path in chart.rglob("*.yaml")
        for anchor in re.findall(r"docs/runbook\.md#([\w-]+)", path.read_text())
    }
    assert links, "expected at least the webhook's emergency-runbook annotation"
    headings = heading_anchors()
    missing = sorted((str(p), a) for p, a in links if a not in headings)
    assert not missing, f"{RUNBOOK}: no heading for {missing}"


def documented_labels() -> dict[str, tuple[str, str]]:
    """alert name -> (severity, priority) its runbook section states: `**What fired** (sev, P#)`.

    The e2e alert test (tests/e2e/test_alerts.py) checks the alerts Prometheus really fired and
    Alertmanager delivered against this, so the runbook is held to what on-call receives."""
    out: dict[str, tuple[str, str]] = {}
    section = None
    fence = False
    for line in RUNBOOK.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"## (MigrationGate\w+)\s*$", line)):
            section = m.group(1)
        elif section and (m := re.match(r"\*\*What fired\*\* \((\w+), (P\d)\)", line)):
            assert section not in out, f"{RUNBOOK}: {section} states its labels twice"
            out[section] = (m.group(1), m.group(2))
    return out


def rule_labels() -> dict[str, tuple[str, str]]:
    """alert name -> (severity, priority) as the chart's PrometheusRule template sets them."""
    out: dict[str, tuple[str, str]] = {}
    alert = None
    labels: dict[str, str] = {}
    for line in RULE.read_text().splitlines():
        if m := re.match(r"\s*- alert: (\S+)\s*$", line):
            alert, labels = m.group(1), {}
        elif alert and (m := re.match(r"\s*(severity|priority): (\S+)\s*$", line)):
            labels[m.group(1)] = m.group(2)
            if len(labels) == 2:
                out[alert] = (labels["severity"], labels["priority"])
    return out


def test_runbook_states_each_alerts_severity_and_priority_as_the_rule_sets_them() -> None:
    rules, documented = rule_labels(), documented_labels()
    assert len(rules) >= 9, rules
    assert documented == rules, f"{RUNBOOK} vs {RULE}: (severity, priority) differ"
