"""The chart's alerts for real: the gate blocks, Prometheus fires, Alertmanager routes, it resolves.

Prometheus scrapes the session's gate every second and evaluates the PrometheusRule rendered from
the chart (`monitoring.window` set short, see monitoring.WINDOW); Alertmanager routes critical
alerts to the `page` receiver and everything else to `ticket`, both webhooks on loopback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.k8s import render
from tests.unit.test_runbook import documented_labels, heading_anchors

from .asserts import assert_denied
from .conftest import EXAMPLES, Cluster, Gate, _required
from .monitoring import (
    JOB,
    NAMESPACE,
    Monitoring,
    Receiver,
    chart_rule_groups,
    resolve_monitoring,
)
from .objects import MIGRATION_MANIFEST, Example, config_map, crd_object, migration_request
from .picks import renamed
from .waits import eventually

ALERT_TIMEOUT = 90.0


@dataclass
class Stack:
    monitoring: Monitoring
    receiver: Receiver
    groups: list[dict[str, Any]]


def _unavailable(message: str) -> None:
    if _required():
        pytest.fail(message + " (CI=true: the e2e level must not be skipped)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def stack(gate: Gate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    proc = gate.require_process()
    binaries, why = resolve_monitoring()
    if binaries is None:
        _unavailable(f"alert e2e cannot run: {why}")
    helm = render.find_helm()
    if helm is None:
        _unavailable("alert e2e cannot run: no helm to render the chart's PrometheusRule (MG_HELM)")
    assert binaries is not None and helm is not None
    groups = chart_rule_groups(helm)
    with Receiver() as receiver:
        mon = Monitoring(
            binaries, tmp_path_factory.mktemp("monitoring"), proc.ports.metrics, groups, receiver
        )
        mon.start()
        try:
            # increase() needs two samples of a series: wait for a few scrapes of the gate
            eventually(
                lambda: mon.api(
                    "query",
                    query=f'count_over_time(up{{job="{JOB}", namespace="{NAMESPACE}"}}[1m])',
                )["result"],
                lambda r: bool(r) and float(r[0]["value"][1]) >= 3,
                "Prometheus scraped the gate three times",
                timeout=ALERT_TIMEOUT,
            )
            assert mon.scraped_up()
            yield Stack(mon, receiver, groups)
        finally:
            mon.stop()


def _example(examples: list[Example], name: str) -> Example:
    for ex in examples:
        if ex.name == name:
            return ex
    pytest.fail(f"examples/{name} is required by the alert scenario")


def _active(stack: Stack, alertname: str, **labels: str) -> list[dict[str, Any]]:
    return [
        a
        for a in stack.monitoring.alerts()
        if a["labels"].get("alertname") == alertname
        and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def _notified(
    stack: Stack, path: str, status: str, alertname: str, **labels: str
) -> list[dict[str, Any]]:
    """Alerts of that name and labels in `status` (firing/resolved) posted to receiver `path`."""
    out = []
    for note in stack.receiver.notifications():
        if note.path != path:
            continue
        for alert in note.body.get("alerts", []):
            if (
                alert.get("status") == status
                and alert["labels"].get("alertname") == alertname
                and all(alert["labels"].get(k) == v for k, v in labels.items())
            ):
                out.append(alert)
    return out


def _wait_notified(
    stack: Stack, path: str, status: str, alertname: str, **labels: str
) -> dict[str, Any]:
    found = eventually(
        lambda: _notified(stack, path, status, alertname, **labels),
        bool,
        f"{alertname} {labels} {status} at receiver {path}",
        timeout=ALERT_TIMEOUT,
    )
    return found[0]


def _rule(stack: Stack, alertname: str) -> dict[str, Any]:
    for group in stack.groups:
        for rule in group["rules"]:
            if rule.get("alert") == alertname:
                return dict(rule)
    pytest.fail(f"the chart's PrometheusRule has no alert {alertname}")


def _assert_documented(alert: dict[str, Any], rule: dict[str, Any]) -> None:
    """Labels and annotations as the chart declares and the runbook documents them."""
    for key, value in rule["labels"].items():
        assert alert["labels"].get(key) == value, (key, alert)
    stated = documented_labels().get(rule["alert"])
    received = (alert["labels"].get("severity"), alert["labels"].get("priority"))
    assert received == stated, f"docs/runbook.md says {stated} for {rule['alert']}: {alert}"
    anchor = rule["alert"].lower()
    assert alert["annotations"]["runbook_url"].endswith(f"#{anchor}"), alert
    assert anchor in heading_anchors(), f"docs/runbook.md has no heading for #{anchor}"
    assert alert["annotations"].get("summary") and alert["annotations"].get("description"), alert


def test_prometheus_loads_every_rule_of_the_chart(stack: Stack) -> None:
    loaded = stack.monitoring.api("rules")["groups"]
    names = {r["name"] for g in loaded for r in g["rules"] if r["type"] == "alerting"}
    rendered = {r["alert"] for g in stack.groups for r in g["rules"] if "alert" in r}
    assert names == rendered
    unhealthy = [r for g in loaded for r in g["rules"] if r.get("health") != "ok"]
    assert not unhealthy, unhealthy


def test_a_prod_block_fires_routes_and_resolves(
    stack: Stack, cluster: Cluster, gate: Gate, namespace: str, examples: list[Example]
) -> None:
    proc = gate.require_process()
    # A dry-run BLOCK (T2) first: it is counted, but must never fire the block alert.
    weak = _example(examples, "t2_bad_weak_hash")
    dry = renamed(crd_object(weak, namespace, EXAMPLES), "alerts-dry")
    result = cluster.kubectl.apply(dry, "--dry-run=server")
    assert_denied(
        result, cluster.kubectl, "ReplicationRequest", dry["metadata"]["name"], namespace,
        weak.expected.policies,
    )  # fmt: skip

    bad = _example(examples, "t1_bad_tls_disabled")
    obj = renamed(config_map(bad, namespace), "alerts-block")
    result = cluster.kubectl.apply(obj)
    assert_denied(
        result, cluster.kubectl, "ConfigMap", obj["metadata"]["name"], namespace,
        bad.expected.policies,
    )  # fmt: skip

    rule = _rule(stack, "MigrationGateProdBlock")
    firing = eventually(
        lambda: _active(stack, "MigrationGateProdBlock", scenario="T1"),
        lambda found: any(a["state"] == "firing" for a in found),
        "MigrationGateProdBlock{scenario=T1} firing in Prometheus",
        timeout=ALERT_TIMEOUT,
    )
    _assert_documented(firing[0], rule)
    assert firing[0]["labels"]["namespace"] == NAMESPACE, firing
    # The dry run happened before the real block, in samples Prometheus has evaluated: no T2.
    assert not _active(stack, "MigrationGateProdBlock", scenario="T2"), stack.monitoring.alerts()

    sent = _wait_notified(stack, "/ticket", "firing", "MigrationGateProdBlock", scenario="T1")
    _assert_documented(sent, rule)
    assert "T1" in sent["annotations"]["summary"], sent
    # increase() extrapolates (one block read 1.485 here): the description rounds the count
    assert re.match(
        r"About \d+ prod T1 request\(s\) were blocked", sent["annotations"]["description"]
    ), sent
    assert not _notified(stack, "/page", "firing", "MigrationGateProdBlock"), "a warning paged"
    # The subject is in the gate's own alert API, which the runbook's first checks read.
    app_id = json.loads(bad.read(MIGRATION_MANIFEST))["app_id"]
    assert any(
        a.get("status") == "firing" and app_id in json.dumps(a.get("subject", {}))
        for a in proc.alerts()
    ), proc.alerts()

    # No further block: once the window has passed, the alert resolves and the receiver hears.
    resolved = _wait_notified(stack, "/ticket", "resolved", "MigrationGateProdBlock", scenario="T1")
    _assert_documented(resolved, rule)
    assert not _active(stack, "MigrationGateProdBlock", scenario="T1")


def test_an_integrity_failure_in_prod_pages(
    stack: Stack, cluster: Cluster, namespace: str, examples: list[Example]
) -> None:
    tampered = _example(examples, "t1_bad_hash_mismatch")
    assert "config-hash-mismatch" in tampered.expected.policies, tampered.expected
    obj = renamed(migration_request(tampered, namespace), "alerts-integrity")
    result = cluster.kubectl.apply(obj)
    assert_denied(
        result, cluster.kubectl, "MigrationRequest", obj["metadata"]["name"], namespace,
        tampered.expected.policies,
    )  # fmt: skip

    rule = _rule(stack, "MigrationGateIntegrityFailure")
    sent = _wait_notified(
        stack, "/page", "firing", "MigrationGateIntegrityFailure", check="config-hash-mismatch"
    )
    _assert_documented(sent, rule)
    assert sent["labels"]["severity"] == "critical" and sent["labels"]["priority"] == "P1", sent
    assert "config-hash-mismatch" in sent["annotations"]["summary"], sent
    assert not _notified(stack, "/ticket", "firing", "MigrationGateIntegrityFailure")
    _wait_notified(
        stack, "/page", "resolved", "MigrationGateIntegrityFailure", check="config-hash-mismatch"
    )
