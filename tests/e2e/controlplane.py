"""A real Kubernetes control plane on loopback: etcd + kube-apiserver, no kubelet, no Docker.

Why this instead of kind: CI machines have no container engine. Admission webhooks are called by
the apiserver alone, so etcd + kube-apiserver is the whole of Kubernetes these tests need; the
binaries are built from pinned Go modules by tools/k8s/build.sh.

Layout of `workdir`: pki/ (generated certs), etcd/ (data), logs/, kubeconfig.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .pki import ControlPlanePKI, make_pki
from .procs import HarnessError, Process, free_port, loopback_env
from .service import Service

SERVICE_CIDR = "10.0.0.0/24"
SERVICE_IP = "10.0.0.1"  # first address of SERVICE_CIDR: the `kubernetes` Service
START_TIMEOUT = 180.0  # a cold apiserver on 2 busy cores takes ~10-60 s


@dataclass(frozen=True, slots=True)
class ControlPlaneBinaries:
    """Absolute paths of the binaries built by tools/k8s/build.sh."""

    etcd: Path
    kube_apiserver: Path


class ControlPlane(Service):
    """etcd + kube-apiserver on random loopback ports; `kubeconfig` gives cluster-admin."""

    def __init__(self, binaries: ControlPlaneBinaries, workdir: Path) -> None:
        self.binaries = binaries
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self.api_port = 0
        self._pki: ControlPlanePKI | None = None
        self._etcd: Process | None = None
        self._apiserver: Process | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start etcd, then the apiserver; return once /readyz says `ok`. Stops all on failure."""
        try:
            self._pki = make_pki(self.workdir / "pki", SERVICE_IP)
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
            self._write_kubeconfig()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Apiserver first (it holds etcd connections), then etcd. Idempotent."""
        for proc in (self._apiserver, self._etcd):
            if proc is not None:
                proc.stop()

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def pids(self) -> list[int]:
        """Process ids of the running etcd and apiserver (the B7 benchmark pins them)."""
        procs = (self._etcd, self._apiserver)
        return [pid for proc in procs if proc is not None and (pid := proc.pid) is not None]

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    # ---- etcd ------------------------------------------------------------------------------------
    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        self._etcd = Process(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=e2e",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                "--initial-cluster-state=new",
                # Throw-away data: skipping fsync keeps a shared 2-core CI machine responsive.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            self.logs / "etcd.log",
        )
        self._etcd.start()

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client_url}/health", timeout=2) as resp:
                return bool(json.loads(resp.read()).get("health") == "true")

        self._etcd.wait_until(healthy, "etcd /health", timeout=60)
        return client_url

    # ---- kube-apiserver --------------------------------------------------------------------------
    def _start_apiserver(self, etcd_url: str) -> None:
        pki = self._require_pki()
        self.api_port = free_port()
        self._apiserver = Process(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                f"--tls-cert-file={pki.serving.cert}",
                f"--tls-private-key-file={pki.serving.key}",
                f"--client-ca-file={pki.ca.cert}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer=https://127.0.0.1:{self.api_port}",
                f"--service-account-key-file={pki.sa_public}",
                f"--service-account-signing-key-file={pki.sa_private}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # No controller-manager creates `default` ServiceAccounts, and no pods run here.
                "--disable-admission-plugins=ServiceAccount",
                "--enable-admission-plugins=ValidatingAdmissionWebhook",
                f"--cert-dir={self.workdir / 'pki' / 'generated'}",
                "--profiling=false",
                "--v=1",
            ],
            self.logs / "kube-apiserver.log",
            env=loopback_env(),
        )
        self._apiserver.start()
        context = self.client_ssl_context()

        def ready() -> bool:
            req = urllib.request.Request(f"{self.server_url}/readyz")
            try:
                with urllib.request.urlopen(req, timeout=5, context=context) as resp:
                    return bool(resp.status == 200 and resp.read().strip() == b"ok")
            except urllib.error.HTTPError as exc:  # 500 while post-start hooks run
                exc.close()
                return False

        self._apiserver.wait_until(ready, "kube-apiserver /readyz", timeout=START_TIMEOUT)

    def client_ssl_context(self) -> ssl.SSLContext:
        """TLS context that trusts the control-plane CA and presents the admin client cert."""
        pki = self._require_pki()
        context = ssl.create_default_context(cafile=str(pki.ca.cert))
        context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
        return context

    def _write_kubeconfig(self) -> None:
        pki = self._require_pki()

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode("ascii")

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "e2e",
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority-data": b64(pki.ca.cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "e2e-admin",
                    "user": {
                        "client-certificate-data": b64(pki.admin.cert),
                        "client-key-data": b64(pki.admin.key),
                    },
                }
            ],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e-admin"}}],
            "current-context": "e2e",
        }
        # JSON is valid kubeconfig YAML; 0600 because it holds the admin key.
        self.kubeconfig.write_text(json.dumps(config, indent=2))
        self.kubeconfig.chmod(0o600)

    def _require_pki(self) -> ControlPlanePKI:
        if self._pki is None:
            raise HarnessError("control plane PKI not generated yet (call start())")
        return self._pki
