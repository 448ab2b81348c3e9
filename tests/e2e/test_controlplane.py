"""The harness itself: a real apiserver, our CRDs served, and failurePolicy Fail really failing.

Runs without the gate, in the gate's own namespace (excluded from the gate's webhook), so it
proves the control plane before any gate behaviour is tested on top of it.
"""

from __future__ import annotations

import itertools
import json
import secrets
from typing import Any

import pytest

from .conftest import Cluster
from .kubectl import Result
from .procs import free_port
from .waits import eventually
from .webhookconfig import GATE_NAMESPACE, webhook_configuration

_names = itertools.count()


def _request(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "MigrationRequest",
        "metadata": {
            "name": f"smoke-{next(_names)}-{secrets.token_hex(2)}",
            "namespace": namespace,
        },
        "spec": {"appId": "payments", "env": "prod", "version": "1.0.0", "config": "app_id: x\n"},
    }


def _ensure_namespace(cluster: Cluster, name: str) -> None:
    cluster.kubectl.run("create", "namespace", name)  # AlreadyExists is fine


def test_apiserver_version_matches_kubectl(cluster: Cluster) -> None:
    """kubectl and apiserver come from the same pinned module (no version skew)."""
    info = json.loads(cluster.kubectl.must("version", "-o", "json").stdout)
    client, server = info["clientVersion"], info["serverVersion"]
    assert server["major"] == "1", info
    if not cluster.external:
        assert client["gitVersion"] == server["gitVersion"], info
    assert abs(int(client["minor"]) - int(server["minor"].rstrip("+"))) <= 1, info


def test_crd_objects_are_served_without_a_webhook(cluster: Cluster, crds: object) -> None:
    _ensure_namespace(cluster, GATE_NAMESPACE)
    obj = _request(GATE_NAMESPACE)
    created = cluster.kubectl.create(obj)
    assert created.ok, str(created)
    got = cluster.kubectl.get_json(
        "migrationrequest", obj["metadata"]["name"], "-n", GATE_NAMESPACE
    )
    assert got["spec"]["config"] == "app_id: x\n"


def test_webhook_on_a_closed_port_fails_closed(cluster: Cluster, crds: object) -> None:
    """failurePolicy Fail: an unreachable webhook denies the request instead of skipping it."""
    if cluster.external:
        pytest.skip("installs a throw-away webhook; only on the loopback control plane")
    _ensure_namespace(cluster, GATE_NAMESPACE)
    config = webhook_configuration(f"https://127.0.0.1:{free_port()}", b"not-a-real-ca")
    config["metadata"]["name"] = "e2e-closed-port"
    for hook in config["webhooks"]:
        hook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": GATE_NAMESPACE}}
    cluster.kubectl.must("apply", "-f", "-", stdin=json.dumps(config))
    try:
        denied: Result = eventually(
            lambda: cluster.kubectl.create(_request(GATE_NAMESPACE)),
            lambda r: not r.ok,
            "create denied by the unreachable webhook",
        )
        assert "failed calling webhook" in denied.stderr, str(denied)
    finally:
        cluster.kubectl.must("delete", "validatingwebhookconfiguration", "e2e-closed-port")
    eventually(
        lambda: cluster.kubectl.create(_request(GATE_NAMESPACE)),
        lambda r: r.ok,
        "create allowed again once the webhook configuration is gone",
    )
