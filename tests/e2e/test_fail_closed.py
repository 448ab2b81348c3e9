"""Fail closed, but only where the gate is in charge.

With the gate process stopped, gated objects cannot be applied (failurePolicy Fail), while the
cluster keeps working for everything outside the gate's scope: kube-system (excluded, so the
cluster can be repaired) and ConfigMaps without the scenario label. The gate is restarted on the
same ports afterwards and must serve again.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from .asserts import WEBHOOK_UNREACHABLE, assert_admitted, denied_by_gate
from .conftest import Cluster, Gate
from .gate import GateProcess
from .kubectl import Result
from .objects import Example, config_map, migration_request
from .picks import bad_migration, good_migration, renamed
from .waits import eventually


@pytest.fixture
def stopped_gate(
    cluster: Cluster, gate: Gate, namespace: str, examples: list[Example]
) -> Iterator[GateProcess]:
    """Stops the gate for one test and brings it back (then proves it serves again)."""
    proc = gate.require_process()
    proc.stop()
    try:
        yield proc
    finally:
        proc.start()
        good = renamed(migration_request(good_migration(examples), namespace), "back")
        eventually(
            lambda: cluster.kubectl.apply(good, "--dry-run=server"),
            lambda r: r.ok,
            "gate serving again after restart",
        )


def test_gate_down_blocks_gated_objects_only(
    cluster: Cluster, stopped_gate: GateProcess, namespace: str, examples: list[Example]
) -> None:
    kubectl = cluster.kubectl
    good, bad = good_migration(examples), bad_migration(examples)

    # Even a request that would be admitted cannot be applied without the gate.
    request = renamed(migration_request(good, namespace), "gate-down")
    result: Result = eventually(
        lambda: kubectl.apply(request), lambda r: not r.ok, "apply fails with the gate down"
    )
    assert WEBHOOK_UNREACHABLE in result.stderr, str(result)
    assert not denied_by_gate(result)
    assert not kubectl.exists("MigrationRequest", request["metadata"]["name"], namespace)

    labelled = renamed(config_map(good, namespace), "gate-down-cm")
    result = kubectl.apply(labelled)
    assert not result.ok and WEBHOOK_UNREACHABLE in result.stderr, str(result)

    # kube-system is excluded: even a labelled, bad ConfigMap applies there (recovery path).
    system_cm = renamed(config_map(bad, "kube-system"), "e2e-gate-down")
    result = kubectl.apply(system_cm)
    try:
        assert_admitted(result, kubectl, "ConfigMap", system_cm["metadata"]["name"], "kube-system")
    finally:
        kubectl.run(
            "delete",
            "configmap",
            system_cm["metadata"]["name"],
            "-n",
            "kube-system",
            "--ignore-not-found",
        )

    # Unlabelled ConfigMaps are never sent to the gate.
    plain_name = f"plain-{secrets.token_hex(3)}"
    plain = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": plain_name, "namespace": namespace},
        "data": {"anything": "goes"},
    }
    assert_admitted(kubectl.apply(plain), kubectl, "ConfigMap", plain_name, namespace)
