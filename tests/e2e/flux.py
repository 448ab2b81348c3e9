"""Flux's source-controller and kustomize-controller, out-of-cluster against the loopback apiserver.

Why out-of-cluster: there is no kubelet here, so no pods; a controller is just a client of the
apiserver (KUBECONFIG), which is exactly how Flux's own `make run` starts it. The binaries and
the CRDs come from tools/flux/build.sh (MG_FLUX_SOURCE_CONTROLLER, MG_FLUX_KUSTOMIZE_CONTROLLER,
MG_FLUX_CRDS). source-controller serves the artifacts it fetches on a loopback port
(--storage-addr) and advertises the same address, which kustomize-controller downloads from.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from .kubectl import Kubectl
from .procs import Process, free_port, loopback_env

START_TIMEOUT = 90.0
SOURCE_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
FLUX_CRDS = (
    "gitrepositories.source.toolkit.fluxcd.io",
    "kustomizations.kustomize.toolkit.fluxcd.io",
)
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


@dataclass(frozen=True, slots=True)
class FluxBinaries:
    source_controller: Path
    kustomize_controller: Path
    crds: Path


def resolve_flux() -> tuple[FluxBinaries | None, str]:
    """(binaries, '') from the MG_FLUX_* variables, else (None, what is missing)."""
    paths: dict[str, Path] = {}
    for var in ("MG_FLUX_SOURCE_CONTROLLER", "MG_FLUX_KUSTOMIZE_CONTROLLER", "MG_FLUX_CRDS"):
        value = os.environ.get(var)
        if not value:
            return None, f"{var} is unset; run `make e2e` (builds Flux with tools/flux/build.sh)"
        paths[var] = Path(value)
    for var in ("MG_FLUX_SOURCE_CONTROLLER", "MG_FLUX_KUSTOMIZE_CONTROLLER"):
        if not (paths[var].is_file() and os.access(paths[var], os.X_OK)):
            return None, f"{var}={paths[var]} is not an executable file"
    if not sorted(paths["MG_FLUX_CRDS"].glob("*.yaml")):
        return None, f"MG_FLUX_CRDS={paths['MG_FLUX_CRDS']} holds no CRD files"
    return (
        FluxBinaries(
            paths["MG_FLUX_SOURCE_CONTROLLER"],
            paths["MG_FLUX_KUSTOMIZE_CONTROLLER"],
            paths["MG_FLUX_CRDS"],
        ),
        "",
    )


def install_crds(kubectl: Kubectl, crds: Path) -> None:
    """Every CRD the release ships (source-controller watches all its kinds), server-side
    applied: the big ones exceed the last-applied annotation limit of client-side apply."""
    for path in sorted(crds.glob("*.yaml")):
        kubectl.must("apply", "--server-side", "--force-conflicts", "-f", str(path))
    kubectl.must(
        "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in FLUX_CRDS)
    )


def _health_ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as exc:
        exc.close()
        return False


class FluxControllers:
    """Both controllers on free loopback ports, leader election off, watching all namespaces."""

    def __init__(self, binaries: FluxBinaries, kubeconfig: Path, workdir: Path) -> None:
        self.workdir = workdir
        env = loopback_env({"KUBECONFIG": str(kubeconfig)})
        storage = free_port()
        self.storage_addr = f"127.0.0.1:{storage}"
        common = ["--watch-all-namespaces=true", "--enable-leader-election=false"]
        common += ["--log-encoding=json", "--log-level=info"]
        (workdir / "storage").mkdir(parents=True, exist_ok=True)
        self._health: dict[str, int] = {}
        self._procs: list[Process] = []
        for name, binary, extra in (
            (
                "source-controller",
                binaries.source_controller,
                [
                    f"--storage-path={workdir / 'storage'}",
                    f"--storage-addr={self.storage_addr}",
                    f"--storage-adv-addr={self.storage_addr}",
                ],
            ),
            ("kustomize-controller", binaries.kustomize_controller, ["--no-remote-bases=true"]),
        ):
            health = free_port()
            self._health[name] = health
            argv = [
                str(binary),
                *common,
                f"--metrics-addr=127.0.0.1:{free_port()}",
                f"--health-addr=127.0.0.1:{health}",
                *extra,
            ]
            self._procs.append(Process(name, argv, workdir / "logs" / f"{name}.log", env=env))

    def start(self) -> None:
        try:
            for proc in self._procs:
                proc.start()
            for proc in self._procs:
                port = self._health[proc.name]
                proc.wait_until(partial(_health_ok, port), "/readyz", timeout=START_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.stop()

    def check_alive(self) -> None:
        for proc in self._procs:
            proc.check_alive()

    def logs(self) -> dict[str, Path]:
        return {proc.name: proc.log for proc in self._procs}


# ---- the objects a user creates to sync a repository ---------------------------------------------
def git_repository(name: str, namespace: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "ref": {"branch": "main"}, "interval": "10m", "timeout": "60s"},
    }


def kustomization(name: str, namespace: str, source: str, target: str) -> dict[str, Any]:
    """Long intervals: every reconcile in the test is requested (requestedAt), so none races."""
    return {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "retryInterval": "10m",
            "path": "./",
            "prune": True,
            "targetNamespace": target,
            "sourceRef": {"kind": "GitRepository", "name": source},
            "timeout": "60s",
        },
    }


def repo_files(objects: list[dict[str, Any]]) -> dict[str, bytes]:
    """One YAML file per object plus a kustomization.yaml listing them (the repo's whole tree)."""
    files: dict[str, bytes] = {}
    for obj in objects:
        name = f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        files[name] = yaml.safe_dump(obj, sort_keys=False).encode()
    kustomize = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
    }
    files["kustomization.yaml"] = yaml.safe_dump(kustomize, sort_keys=False).encode()
    return files


def request_reconcile(kubectl: Kubectl, kind: str, name: str, namespace: str) -> str:
    """What `flux reconcile` does: a new requestedAt annotation makes the controller act now."""
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    kubectl.must("annotate", "--overwrite", kind, name, "-n", namespace, f"{REQUESTED_AT}={stamp}")
    return stamp


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions", []):
        if cond.get("type") == kind:
            return dict(cond)
    return None
