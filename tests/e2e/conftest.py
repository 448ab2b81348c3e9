"""Session fixtures for the e2e level: a real kube-apiserver, the CRDs, the gate as its webhook.

Two modes:
- loopback (default, CI): etcd + kube-apiserver built by tools/k8s/build.sh (paths in MG_ETCD,
  MG_KUBE_APISERVER, MG_KUBECTL) run on 127.0.0.1, and `migration-gate serve` runs beside them;
- external: KUBECONFIG is set (e.g. `make kind-e2e`): nothing is started, the gate is the one
  the chart installed; tests that must reach the gate process itself skip, saying why.

Missing binaries skip loudly outside CI and fail the run in CI (CI=true or MG_E2E_REQUIRED=1):
the e2e level must never pass by not running.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .asserts import denied_by_gate
from .controlplane import ControlPlane, ControlPlaneBinaries
from .gate import GateProcess
from .kubectl import Kubectl, apply_all
from .objects import Example, discover
from .waits import eventually
from .webhookconfig import ENV_LABEL, GATE_NAMESPACE, SCENARIO_LABEL, webhook_configuration

REPO = Path(__file__).resolve().parents[2]
# MG_EXAMPLES_DIR: run the suite on another example set (e.g. freshly regenerated ones).
EXAMPLES = Path(os.environ.get("MG_EXAMPLES_DIR") or REPO / "examples").resolve()
CHART_CRDS = REPO / "charts" / "migration-gate" / "crds"
CRD_NAMES = ("migrationrequests.migrationgate.io", "replicationrequests.migrationgate.io")


# ---- mode and binaries ---------------------------------------------------------------------------
def _required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MG_E2E_REQUIRED") == "1"


def _binary(env_var: str, name: str) -> tuple[Path | None, str]:
    """(path, '') from $env_var or PATH, else (None, what is wrong) for the skip/fail message."""
    value = os.environ.get(env_var)
    if value:
        path = Path(value)
        if path.is_file() and os.access(path, os.X_OK):
            return path, ""
        return None, f"{env_var}={value} is not an executable file"
    found = shutil.which(name)
    if found:
        return Path(found), ""
    return None, f"no {name} ({env_var} unset, not on PATH)"


@dataclass(frozen=True, slots=True)
class Mode:
    """What this session will run against, or why it cannot run."""

    external_kubeconfig: Path | None
    kubectl: Path | None
    binaries: ControlPlaneBinaries | None
    problem: str | None

    def describe(self) -> str:
        if self.problem:
            verdict = "FAIL (CI)" if _required() else "SKIPPED"
            return f"e2e: {verdict}: {self.problem}"
        if self.external_kubeconfig is not None:
            return (
                f"e2e: external cluster KUBECONFIG={self.external_kubeconfig}, "
                f"kubectl={self.kubectl}"
            )
        assert self.binaries is not None
        return (
            f"e2e: loopback control plane: kube-apiserver={self.binaries.kube_apiserver}, "
            f"etcd={self.binaries.etcd}, kubectl={self.kubectl}"
        )


def resolve_mode() -> Mode:
    hint = "run `make e2e` (builds the tools with tools/k8s/build.sh)"
    kubectl, why = _binary("MG_KUBECTL", "kubectl")
    if kubectl is None:
        return Mode(None, None, None, f"{why}; {hint}")
    external = os.environ.get("KUBECONFIG")
    if external:
        return Mode(Path(external), kubectl, None, None)
    apiserver, why_apiserver = _binary("MG_KUBE_APISERVER", "kube-apiserver")
    etcd, why_etcd = _binary("MG_ETCD", "etcd")
    if apiserver is None or etcd is None:
        problems = "; ".join(w for w in (why_apiserver, why_etcd) if w)
        return Mode(None, kubectl, None, f"{problems}; {hint}")
    return Mode(None, kubectl, ControlPlaneBinaries(etcd=etcd, kube_apiserver=apiserver), None)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [resolve_mode().describe()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is the e2e level (`-m e2e`), whatever its module says."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def snapshot_hashed_at_admission() -> bool:
    """The loopback gate runs with --snapshot-root=examples/, so a CRD's snapshot.uri is hashed
    (and the archive inspected); an in-cluster gate (external mode) has no such root."""
    return not os.environ.get("KUBECONFIG")


# ---- cluster -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cluster:
    kubectl: Kubectl
    external: bool
    workdir: Path


@pytest.fixture(scope="session")
def mode() -> Mode:
    resolved = resolve_mode()
    if resolved.problem:
        message = f"e2e cannot run: {resolved.problem}"
        if _required():
            pytest.fail(message + " (CI=true: the e2e level must not be skipped)")
        pytest.skip(message)
    return resolved


@pytest.fixture(scope="session")
def cluster(mode: Mode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("e2e")
    assert mode.kubectl is not None
    if mode.external_kubeconfig is not None:
        yield Cluster(
            Kubectl(mode.kubectl, mode.external_kubeconfig, workdir / "kube-cache"),
            external=True,
            workdir=workdir,
        )
        return
    assert mode.binaries is not None
    with ControlPlane(mode.binaries, workdir / "controlplane") as plane:
        yield Cluster(
            Kubectl(mode.kubectl, plane.kubeconfig, workdir / "kube-cache"),
            external=False,
            workdir=workdir,
        )


def crd_documents() -> list[dict[str, object]]:
    """The chart's CRDs (charts/migration-gate/crds), exactly what `helm install` applies."""
    docs: list[dict[str, object]] = []
    for path in sorted(CHART_CRDS.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Path:
    """Installs the chart's CRDs (on kind the chart did) and waits until they are Established."""
    docs = crd_documents()
    if not docs:
        pytest.fail(f"no CRD documents found under {CHART_CRDS}")
    if not cluster.external:
        apply_all(cluster.kubectl, docs)
    cluster.kubectl.must(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *(f"crd/{n}" for n in CRD_NAMES),
    )
    return CHART_CRDS


@pytest.fixture(scope="session")
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per session, so reruns against a kind cluster start clean."""
    name = f"mg-e2e-{secrets.token_hex(3)}"
    cluster.kubectl.must("create", "namespace", name)
    yield name
    # Without a controller-manager (loopback) the namespace stays Terminating: harmless.
    cluster.kubectl.run("delete", "namespace", name, "--wait=false")


def labelled_namespace(cluster: Cluster, prefix: str, env_label: str | None) -> str:
    """A fresh namespace; `env_label` (if any) as its `migrationgate.io/env` label."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    cluster.kubectl.must("create", "namespace", name)
    if env_label is not None:
        cluster.kubectl.must("label", "namespace", name, f"{ENV_LABEL}={env_label}")
    return name


@pytest.fixture(scope="session")
def staging_namespace(cluster: Cluster, gate: Gate) -> Iterator[str]:
    """A namespace labelled `migrationgate.io/env: staging`: the staging webhook entries (and so
    the gate's staging path) review it. Waits until that entry is in effect there too."""
    name = labelled_namespace(cluster, "mg-e2e-stg", "staging")
    wait_for_webhook(cluster.kubectl, name)
    yield name
    cluster.kubectl.run("delete", "namespace", name, "--wait=false")


# ---- examples and the gate -----------------------------------------------------------------------
@pytest.fixture(scope="session")
def examples() -> list[Example]:
    found = discover(EXAMPLES)
    if not found:
        pytest.fail(f"no examples with expected.json under {EXAMPLES}")
    return found


def union_trust_dir(examples_dir: Path, target: Path) -> Path:
    """Every example's trust/ keys in one dir (identical files once; name clashes prefixed)."""
    target.mkdir(parents=True, exist_ok=True)
    seen: dict[str, bytes] = {}
    for key in sorted(examples_dir.glob("*/trust/*")):
        data = key.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            continue
        name = (
            key.name if not (target / key.name).exists() else f"{key.parent.parent.name}-{key.name}"
        )
        (target / name).write_bytes(data)
        seen[digest] = data
    return target


def wait_for_webhook(kubectl: Kubectl, namespace: str) -> None:
    """The apiserver loads a new webhook configuration asynchronously: wait for its effect.

    Probe: a dry run of a labelled ConfigMap with no artifacts, which only the gate denies.
    """
    probe = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "e2e-webhook-probe",
            "namespace": namespace,
            "labels": {SCENARIO_LABEL: "migration"},
        },
        "data": {},
    }
    eventually(
        lambda: kubectl.apply(probe, "--dry-run=server"),
        denied_by_gate,
        "the gate's webhook configuration in effect",
    )


@dataclass
class Gate:
    """The gate under test; `process` is None when it runs in-cluster (external mode)."""

    process: GateProcess | None

    def require_process(self) -> GateProcess:
        if self.process is None:
            pytest.skip("needs the loopback gate process (external cluster: gate runs in-cluster)")
        return self.process


@pytest.fixture(scope="session")
def gate(
    cluster: Cluster, crds: Path, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gate]:
    """Starts `migration-gate serve` and registers it as the cluster's validating webhook."""
    if cluster.external:
        wait_for_webhook(cluster.kubectl, namespace)
        yield Gate(process=None)
        return
    base = tmp_path_factory.mktemp("gate")
    trust = union_trust_dir(EXAMPLES, base / "trust")
    process = GateProcess(base / "state", trust, snapshot_root=EXAMPLES)
    process.start()
    try:
        apply_all(
            cluster.kubectl,
            [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": GATE_NAMESPACE}},
                webhook_configuration(process.url_base, process.ca_bundle),
            ],
        )
        wait_for_webhook(cluster.kubectl, namespace)
        yield Gate(process=process)
    finally:
        process.stop()
