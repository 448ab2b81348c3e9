"""The real `migration-gate serve` process on loopback, as the apiserver's admission webhook.

Started from the project's own venv with a throw-away state dir, so its dev CA (state/tls/ca.crt)
becomes the webhook's caBundle and its audit store / operator API are the ones the tests read.
Restartable on the same ports and state, so a test can stop it (fail-closed) and bring it back.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from .procs import Process, free_port

READY_TIMEOUT = 90.0
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class GatePorts:
    admission: int
    api: int
    metrics: int


def gate_command() -> list[str]:
    """`migration-gate` from the venv running pytest (installed -e by `make install`).

    Before the first `make install` the script does not exist yet; the same entry point is then
    run as `python -m webhook.cli` from the repo root, so the code under test is identical.
    """
    exe = Path(sys.executable).parent / "migration-gate"
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-m", "webhook.cli"]


class GateProcess:
    """One gate process; `start()` returns when /readyz on the metrics port says ready."""

    def __init__(self, state_dir: Path, trust_dir: Path, snapshot_root: Path | None) -> None:
        self.state_dir = state_dir
        self.ports = GatePorts(admission=free_port(), api=free_port(), metrics=free_port())
        argv = [
            *gate_command(),
            "serve",
            f"--state-dir={state_dir}",
            f"--admission-port={self.ports.admission}",
            f"--api-port={self.ports.api}",
            f"--metrics-port={self.ports.metrics}",
            f"--trust-dir={trust_dir}",
        ]
        if snapshot_root is not None:
            argv.append(f"--snapshot-root={snapshot_root}")
        self._proc = Process("migration-gate", argv, state_dir.parent / "gate.log", cwd=REPO)

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._proc.start()
        try:
            self._proc.wait_until(self._ready, "gate /readyz", timeout=READY_TIMEOUT)
        except BaseException:
            self._proc.stop()
            raise

    def stop(self) -> None:
        self._proc.stop()

    @property
    def running(self) -> bool:
        return self._proc.running

    @property
    def log(self) -> Path:
        return self._proc.log

    def _ready(self) -> bool:
        url = f"http://127.0.0.1:{self.ports.metrics}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError as exc:  # 503 until policies, trust and audit are loaded
            exc.close()
            return False

    # ---- what the tests read ---------------------------------------------------------------------
    @property
    def url_base(self) -> str:
        return f"https://127.0.0.1:{self.ports.admission}"

    @property
    def ca_bundle(self) -> bytes:
        """The dev CA that signed the admission listener's certificate (webhook caBundle)."""
        return (self.state_dir / "tls" / "ca.crt").read_bytes()

    def operator_token(self) -> str:
        """The first-start operator token, written in clear (0600) under the state dir."""
        return (self.state_dir / "operator-token.txt").read_text().strip()

    def api_get(self, path: str) -> Any:
        """GET on the operator API (plain HTTP on loopback here) with the operator token."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.ports.api}{path}",
            headers={"Authorization": f"Bearer {self.operator_token()}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def audit_since(self, after_seq: int, limit: int = 200) -> list[dict[str, Any]]:
        """Audit records with seq > after_seq (the API pages newest first)."""
        page = self.api_get(f"/api/v1/audit/logs?limit={limit}")
        return [r for r in page["records"] if int(r["seq"]) > after_seq]

    def audit_head(self) -> int:
        """The newest audit seq (0 when empty): a bookmark before an action."""
        records = self.api_get("/api/v1/audit/logs?limit=1")["records"]
        return int(records[0]["seq"]) if records else 0

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert (up to 500), to compare before/after an action."""
        return list(self.api_get("/api/v1/alerts?limit=500")["alerts"])

    def metric(self, name: str, **labels: str) -> float:
        """Value of one sample on /metrics (0.0 while the labelled child does not exist yet)."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.ports.metrics}/metrics", timeout=10
        ) as resp:
            text = resp.read().decode("utf-8")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0
