"""The chart and CRDs against a real kube-apiserver (etcd + kube-apiserver on loopback, no gate).

What only a real apiserver can show: it accepts the CRDs and every rendered object (including the
matchConditions' CEL), every example passes the CRD schema and so reaches the webhook, and with no
gate answering the configuration fails closed exactly where it should: gated objects are refused,
while kube-system, unlabelled ConfigMaps, DELETEs and metadata-only updates still go through.
`helm upgrade` keeps the self-signed CA and certificate (lookup), so caBundle stays in step.

Loopback only: this control plane has no Service network, and the apiserver would dial a
Service's ClusterIP (a private-range address) for a service-based webhook. So the chart is
installed with `webhook.url` on a closed 127.0.0.1 port: "no gate answering", without any
traffic leaving the host. A test asserts the installed configuration has no service reference.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import objects
from tests.e2e.controlplane import ControlPlane, ControlPlaneBinaries
from tests.e2e.kubectl import Kubectl, Result
from tests.e2e.procs import free_port
from tests.e2e.waits import eventually

from . import render
from .conftest import missing, tool

APPS = "apps"
RELEASE_NS = "migration-gate"
UNREACHABLE = "failed calling webhook"


@dataclass
class Cluster:
    kubectl: Kubectl
    helm: Path
    kubeconfig: Path
    #: where the webhook points: a loopback port nothing listens on (the gate is "down")
    gate_url: str

    def helm_run(self, *args: str) -> str:
        return render.helm(
            self.helm,
            *args,
            f"--kubeconfig={self.kubeconfig}",
            f"--set=webhook.url={self.gate_url}",
            *(f"--set-file={f}" for f in render.TEST_TRUST),
        )


@pytest.fixture(scope="module")
def cluster(helm_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binaries = ControlPlaneBinaries(etcd=tool("etcd"), kube_apiserver=tool("kube-apiserver"))
    kubectl_bin = tool("kubectl")
    work = tmp_path_factory.mktemp("apiserver")
    with ControlPlane(binaries, work) as plane:
        kubectl = Kubectl(kubectl_bin, plane.kubeconfig, work / "kubectl-cache")
        kubectl.must("apply", "--server-side", "-f", str(render.CRDS_DIR))
        kubectl.must(
            "wait", "--for=condition=Established", "--timeout=60s", "crd", "-l",
            "app.kubernetes.io/part-of=migration-gate",
        )  # fmt: skip
        kubectl.must("create", "namespace", APPS)
        url = f"https://127.0.0.1:{free_port()}/admission/v1/validate"
        yield Cluster(kubectl, helm_bin, plane.kubeconfig, url)


def _example_objects() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for example in objects.discover(render.REPO / "examples"):
        out.append((example.name, objects.crd_object(example, APPS, Path("/snapshots"))))
        out.append((example.name + "/configmap", objects.config_map(example, APPS)))
    return out


def _migration(name: str, namespace: str = APPS, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "MigrationRequest",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "appId": "payments",
            "env": "prod",
            "version": "4.2.0",
            "configSha256": "a" * 64,
            "config": "app_id: payments\n",
            **spec,
        },
    }


def _configmap(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": APPS, "labels": labels},
        "data": {"k": "v"},
    }


def test_every_example_passes_the_crd_schema(cluster: Cluster) -> None:
    """No webhook installed yet: only the schema answers, and it must let every example through."""
    examples = _example_objects()
    if not examples:
        missing("examples", "no example folders under examples/")
    refused = {}
    for name, obj in examples:
        result = cluster.kubectl.apply(obj, "--dry-run=server")
        if not result.ok:
            refused[name] = result.stderr.strip()
    assert not refused, json.dumps(refused, indent=2)


def test_short_names_and_category(cluster: Cluster) -> None:
    for resource in ("mr", "migreq", "rr", "replreq", "migrationgate"):
        result = cluster.kubectl.run("get", resource, "-A")
        assert result.ok, result


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Cluster:
    """A request created before the gate exists, then the chart installed with no gate running."""
    setup = cluster.kubectl.apply(_migration("before-install"))
    if not setup.ok:
        pytest.fail(f"setup apply failed:\n{setup}")
    cluster.helm_run(
        "install", render.RELEASE, str(render.CHART),
        f"--namespace={RELEASE_NS}", "--create-namespace", "--set=breakGlass.groups={sre-oncall}",
    )  # fmt: skip
    return cluster


def _refused(result: Result) -> bool:
    """Denied because no gate answered (connection refused on the loopback URL)."""
    return not result.ok and UNREACHABLE in result.stderr and "127.0.0.1" in result.stderr


def test_install_renders_accepted_objects(installed: Cluster) -> None:
    kinds = installed.kubectl.run(
        "get", "deploy,svc,pdb,networkpolicy,sa,secret,configmap", "-n", RELEASE_NS, "-o", "name"
    )
    assert kinds.ok, kinds
    for name in ("deployment.apps/migration-gate", "service/migration-gate",
                 "poddisruptionbudget.policy/migration-gate",
                 "networkpolicy.networking.k8s.io/migration-gate",
                 "secret/migration-gate-tls"):  # fmt: skip
        assert name in kinds.stdout.split(), kinds
    vwc = installed.kubectl.get_json("validatingwebhookconfiguration", "migration-gate")
    assert [w["name"] for w in vwc["webhooks"]] == [
        "requests.migrationgate.io",
        "configmaps.migrationgate.io",
        "staging.requests.migrationgate.io",
        "staging.configmaps.migrationgate.io",
    ]
    assert vwc["webhooks"][0]["matchConditions"][0]["name"] == "spec-changed"
    for hook in vwc["webhooks"]:  # never a ClusterIP: see the module docstring
        assert sorted(hook["clientConfig"]) == ["caBundle", "url"]
        staging = hook["name"].startswith("staging.")
        want = installed.gate_url + ("/staging" if staging else "")
        assert hook["clientConfig"]["url"] == want


def test_fails_closed_without_a_gate(installed: Cluster) -> None:
    result = installed.kubectl.apply(_migration("new-request"))
    assert _refused(result), result
    labelled = installed.kubectl.apply(_configmap("gated", {"migrationgate.io/scenario": "x"}))
    assert _refused(labelled), labelled
    # a staging namespace is gated too, through its own entry (and its own path)
    k = installed.kubectl
    k.must("create", "namespace", "apps-staging")
    k.must("label", "namespace", "apps-staging", "migrationgate.io/env=staging")
    staged = k.apply(_migration("staged-request", namespace="apps-staging"))
    assert _refused(staged) and "staging.requests.migrationgate.io" in staged.stderr, staged


def test_what_is_never_gated(installed: Cluster) -> None:
    k = installed.kubectl
    assert k.apply(_migration("system-request", namespace="kube-system")).ok
    assert k.apply(_configmap("plain", {"app": "x"})).ok
    # metadata-only update of an existing request: the spec-changed matchCondition skips it
    assert k.run("label", "migrationrequest", "before-install", "-n", APPS, "team=payments").ok
    # a spec change is reviewed, so with no gate it is refused
    patch = json.dumps({"spec": {"version": "9.9.9"}})
    changed = k.run("patch", "mr", "before-install", "-n", APPS, "--type=merge", "-p", patch)
    assert _refused(changed), changed
    # DELETE is not intercepted
    assert k.run("delete", "mr", "before-install", "-n", APPS, "--wait=false").ok


def test_break_glass_group_may_remove_only_this_webhook(installed: Cluster) -> None:
    def can(*args: str) -> str:
        return installed.kubectl.run("auth", "can-i", *args).stdout.strip()

    vwc = "validatingwebhookconfigurations/migration-gate"
    assert can("delete", vwc, "--as=alice", "--as-group=sre-oncall") == "yes"
    assert can("delete", "validatingwebhookconfigurations/other", "--as=alice",
               "--as-group=sre-oncall") == "no"  # fmt: skip
    assert can("create", "validatingwebhookconfigurations", "--as=alice",
               "--as-group=sre-oncall") == "no"  # fmt: skip
    assert can("delete", vwc, "--as=bob") == "no"


def test_gate_pod_meets_pod_security_restricted(installed: Cluster) -> None:
    """The Deployment's pod template, as the ReplicaSet controller would create it, is admitted
    by Pod Security `restricted` (manifests/install.yaml labels the namespace so)."""
    k = installed.kubectl
    k.must("label", "--overwrite", "namespace", RELEASE_NS,
           "pod-security.kubernetes.io/enforce=restricted")  # fmt: skip
    template = k.get_json("deployment", "migration-gate", "-n", RELEASE_NS)["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pss-check", "namespace": RELEASE_NS, **template["metadata"]},
        "spec": template["spec"],
    }
    admitted = k.create(pod, "--dry-run=server")
    assert admitted.ok and "violate" not in admitted.stderr, admitted
    (container,) = pod["spec"]["containers"]
    # negative control: the same pod asking for one capability is refused by Pod Security
    container["securityContext"]["capabilities"] = {"drop": ["ALL"], "add": ["NET_RAW"]}
    refused = k.create(pod, "--dry-run=server")
    assert not refused.ok and 'violates PodSecurity "restricted' in refused.stderr, refused


def _tls(cluster: Cluster) -> tuple[str, str, str]:
    secret = cluster.kubectl.get_json("secret", "migration-gate-tls", "-n", RELEASE_NS)
    vwc = cluster.kubectl.get_json("validatingwebhookconfiguration", "migration-gate")
    bundles = {w["clientConfig"]["caBundle"] for w in vwc["webhooks"]}
    assert len(bundles) == 1
    (bundle,) = bundles
    return secret["data"]["tls.crt"], secret["data"]["ca.crt"], bundle


def test_upgrade_keeps_ca_bundle_in_step(installed: Cluster) -> None:
    crt, ca, bundle = _tls(installed)
    assert base64.b64decode(bundle) == base64.b64decode(ca)
    installed.helm_run(
        "upgrade", render.RELEASE, str(render.CHART), f"--namespace={RELEASE_NS}",
        "--set=server.apiThreads=4",
    )  # fmt: skip
    assert _tls(installed) == (crt, ca, bundle), "upgrade replaced the certificate or CA"
    installed.helm_run(
        "upgrade", render.RELEASE, str(render.CHART), f"--namespace={RELEASE_NS}",
        "--set=selfSigned.regenerate=true",
    )  # fmt: skip
    new_crt, new_ca, new_bundle = _tls(installed)
    assert new_crt != crt and new_ca != ca
    assert base64.b64decode(new_bundle) == base64.b64decode(new_ca)


def test_only_the_named_groups_may_label_a_namespace_staging(installed: Cluster) -> None:
    """The namespace label chooses the staging door (weaker actions): the chart's
    ValidatingAdmissionPolicy lets only its groups/users give a namespace that label.
    A namespace editor outside them may create and label namespaces, just not staging ones."""
    k = installed.kubectl
    k.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "ns-editor"},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"],
                       "verbs": ["get", "list", "create", "patch", "update"]}],
        }
    )  # fmt: skip
    k.must("create", "clusterrolebinding", "ns-editors", "--clusterrole=ns-editor",
           "--group=ns-editors")  # fmt: skip
    alice = ("--as=alice", "--as-group=ns-editors")
    assert k.run("create", "namespace", "alice-apps", *alice).ok
    label = "migrationgate.io/env=staging"

    # the policy binding takes effect asynchronously: wait (bounded) with a server dry run,
    # which goes through admission but changes nothing
    refused = eventually(
        lambda: k.run("label", "namespace", "alice-apps", label, "--dry-run=server", *alice),
        lambda r: not r.ok,
        "the env label guard denies alice",
    )
    assert "may label a namespace migrationgate.io/env=staging" in refused.stderr, refused
    assert "alice may not" in refused.stderr, refused
    assert not k.run("label", "namespace", "alice-apps", label, *alice).ok
    created = k.apply(
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": "alice-staging", "labels": {"migrationgate.io/env": "staging"}}},
        *alice,
    )  # fmt: skip
    assert not created.ok and "may label a namespace" in created.stderr, created
    # other labels, and prod, are free; a cluster admin (system:masters) may label staging
    assert k.run("label", "namespace", "alice-apps", "team=payments", *alice).ok
    assert k.run("label", "namespace", "alice-apps", "migrationgate.io/env=prod", *alice).ok
    assert k.run("label", "--overwrite", "namespace", "alice-apps", label).ok
    # once staging, unrelated edits and removing the label (back to prod) stay free
    assert k.run("label", "namespace", "alice-apps", "tier=web", *alice).ok
    assert k.run("label", "namespace", "alice-apps", "migrationgate.io/env-", *alice).ok
