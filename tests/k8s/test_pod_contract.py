"""The pod the chart renders really runs: its exact args, env and mounted files start the gate.

No kubelet here, so the pod is reproduced on loopback: every volume the Deployment mounts becomes a
directory filled from the rendered Secret/ConfigMap (as the kubelet would), the args are the
rendered args with only the mount prefixes, listen host and ports rewritten, and the real
`migration-gate serve` must become ready, serve the helm-generated certificate for the Service's
DNS name, and write nothing outside the two writable mounts (/tmp, /data), as a read-only root
filesystem requires.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.procs import Process, free_port, loopback_env

from .conftest import one, only

START_TIMEOUT = 90.0
SERVICE_DNS = "migration-gate.gate-ns.svc"


def _files(volume: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, bytes]:
    """What the kubelet would project into a secret/configMap volume."""
    if "secret" in volume:
        name, kind = volume["secret"]["secretName"], "Secret"
    elif "configMap" in volume:
        name, kind = volume["configMap"]["name"], "ConfigMap"
    else:
        return {}
    (obj,) = [d for d in only(docs, kind) if d["metadata"]["name"] == name]
    files = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items() if kind == "Secret"}
    if kind == "ConfigMap":
        files.update({k: v.encode() for k, v in (obj.get("data") or {}).items()})
    files.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
    return files


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class Pod:
    """The rendered container, laid out under `root` and started on loopback."""

    def __init__(self, docs: list[dict[str, Any]], root: Path) -> None:
        dep = one(docs, "Deployment")
        pod = dep["spec"]["template"]["spec"]
        (self.container,) = pod["containers"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.root = root
        self.mounts: dict[str, Path] = {}
        self.writable: set[Path] = set()
        for mount in self.container["volumeMounts"]:
            local = root / "mnt" / mount["name"]
            local.mkdir(parents=True)
            for name, data in _files(volumes[mount["name"]], docs).items():
                (local / name).write_bytes(data)
            self.mounts[mount["mountPath"]] = local
            if not mount.get("readOnly"):
                self.writable.add(local)
        self.cwd = root / "rootfs"  # stands for the image's read-only root (WORKDIR)
        self.cwd.mkdir()
        self.ports = {name: free_port() for name in ("admission", "api", "metrics")}
        self.tls_dir = self.mounts["/tls"]

    def _path(self, value: str) -> str:
        for mount_path, local in self.mounts.items():
            if value == mount_path or value.startswith(mount_path + "/"):
                return str(local) + value[len(mount_path) :]
        return value

    def argv(self) -> list[str]:
        rewrite = {
            "--host": "127.0.0.1",
            "--admission-port": str(self.ports["admission"]),
            "--api-port": str(self.ports["api"]),
            "--metrics-port": str(self.ports["metrics"]),
        }
        args = []
        for arg in self.container["args"]:
            flag, eq, value = arg.partition("=")
            if eq and flag in rewrite:
                args.append(f"{flag}={rewrite[flag]}")
            elif eq:
                args.append(f"{flag}={self._path(value)}")
            else:
                args.append(arg)
        # the image's ENTRYPOINT is `migration-gate`; here, the same CLI from this venv
        return [str(Path(sys.executable).parent / "migration-gate"), *args]

    def env(self) -> dict[str, str]:
        extra = {e["name"]: self._path(e["value"]) for e in self.container.get("env", [])}
        return loopback_env(extra)


@pytest.fixture(scope="module")
def running(
    default_render: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Pod, Process, dict[str, dict[str, tuple[int, int]]]]]:
    pod = Pod(default_render, tmp_path_factory.mktemp("pod"))
    before = {str(p): _tree(p) for p in [*pod.mounts.values(), pod.cwd]}
    proc = Process("gate", pod.argv(), pod.root / "gate.log", env=pod.env(), cwd=pod.cwd)
    proc.start()
    try:
        proc.wait_until(
            lambda: _get(pod.ports["metrics"], "/readyz") == 200, "/readyz 200", START_TIMEOUT
        )
        yield pod, proc, before
    finally:
        proc.stop()


def _get(port: int, path: str) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return int(resp.status)


def test_rendered_pod_becomes_ready(running: tuple[Pod, Process, Any]) -> None:
    pod, proc, _ = running
    assert proc.running
    assert _get(pod.ports["metrics"], "/livez") == 200
    assert _get(pod.ports["metrics"], "/readyz") == 200


def test_serves_the_chart_certificate_for_the_service_name(
    running: tuple[Pod, Process, Any],
) -> None:
    """What the apiserver does: verify against caBundle (= the Secret's ca.crt), SNI = svc name."""
    pod, _, _ = running
    context = ssl.create_default_context(cafile=str(pod.tls_dir / "ca.crt"))
    with (
        socket.create_connection(("127.0.0.1", pod.ports["admission"]), timeout=10) as sock,
        context.wrap_socket(sock, server_hostname=SERVICE_DNS) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_writes_only_to_tmp_and_data(running: tuple[Pod, Process, Any]) -> None:
    pod, proc, before = running
    _get(pod.ports["metrics"], "/metrics")
    proc.stop()  # flush and close everything it had open
    for local in [*pod.mounts.values(), pod.cwd]:
        if local in pod.writable:
            continue
        assert _tree(local) == before[str(local)], f"the gate wrote into read-only {local}"
    data = pod.mounts["/data"]
    assert (data / "audit.db").exists(), "the audit store is not where --audit-db says"
    assert os.listdir(pod.cwd) == []
