"""A denial at apply time is what Prometheus alerts on: it must move the gate's counters.

Read from the same /metrics endpoint the chart's ServiceMonitor scrapes, around one real
(non-dry-run) kubectl apply that the gate denies.
"""

from __future__ import annotations

import json

from .asserts import assert_denied
from .conftest import Cluster, Gate
from .objects import MIGRATION_MANIFEST, Example, config_map
from .picks import bad_migration, renamed


def test_a_denied_apply_is_counted_for_alerting(
    cluster: Cluster, gate: Gate, namespace: str, examples: list[Example]
) -> None:
    proc = gate.require_process()
    bad = bad_migration(examples)
    env = json.loads(bad.read(MIGRATION_MANIFEST))["env"]
    decisions = {
        "scenario": "T1",
        "decision": "BLOCK",
        "source": "admission",
        "env": env,
    }
    name = "migration_gate_decisions_total"
    before = proc.metric(name, **decisions)
    violations_before = {
        p: proc.metric(
            "migration_gate_policy_violations_total", policy=p, env=env, action="enforce"
        )
        for p in bad.expected.policies
    }

    obj = renamed(config_map(bad, namespace), "metrics")
    result = cluster.kubectl.apply(obj)
    assert_denied(
        result,
        cluster.kubectl,
        "ConfigMap",
        obj["metadata"]["name"],
        namespace,
        bad.expected.policies,
    )

    assert proc.metric(name, **decisions) == before + 1
    for policy, value in violations_before.items():
        after = proc.metric(
            "migration_gate_policy_violations_total", policy=policy, env=env, action="enforce"
        )
        assert after == value + 1, policy
