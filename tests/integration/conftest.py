"""A real gate process on loopback: real TLS with the project's dev CA, real HTTP via httpx.

`start_gate()` runs `python -m webhook.cli serve` (what the `migration-gate` script runs) with
every port 0, then reads the bound URLs from its `listening` log line on stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PY = sys.executable
START_TIMEOUT = 30.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def example_folders() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if (p / "expected.json").is_file())


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Gate:
    proc: subprocess.Popen[bytes]
    state: Path
    urls: dict[str, str]
    stderr: Path
    stdout: Path
    ca: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def admission(self) -> str:
        return self.urls["admission"]

    @property
    def api(self) -> str:
        return self.urls["api"]

    @property
    def metrics(self) -> str:
        return self.urls["metrics"]

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def client(self, **kw: Any) -> httpx.Client:
        kw.setdefault("timeout", 30.0)
        return httpx.Client(verify=self.ssl_context(), **kw)

    def auth(self, role: str = "operator") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def write_tokens(path: Path, **tokens: str) -> None:
    """Token file with one entry per role; the clear tokens stay in the test."""
    lines = [f"{role}:{sha256_hex(tok)}:{role}-user" for role, tok in tokens.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def start_gate(
    tmp: Path,
    *args: str,
    tokens: dict[str, str] | None = None,
    wait: bool = True,
    env: dict[str, str] | None = None,
    make_run: bool = False,
) -> Gate:
    """Start a gate with its state under `tmp`; tokens (role -> token) written before start.

    `make_run`: like `make run` (state `.state` relative to `tmp` as cwd, default ports).
    """
    state = tmp / (".state" if make_run else "state")
    state.mkdir(parents=True, exist_ok=True)
    if tokens is not None:
        write_tokens(state / "operator-token", **tokens)
    stderr, stdout = tmp / "gate.stderr", tmp / "gate.stdout"
    ports = ["--admission-port", "0", "--api-port", "0", "--metrics-port", "0"]
    where = ["--state-dir", ".state"] if make_run else ["--state-dir", str(state), *ports]
    cmd = [PY, "-m", "webhook.cli", "serve", *where, "--log-level", "info", *args]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATION_GATE_")}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    with stderr.open("wb") as err, stdout.open("wb") as out:
        cwd = tmp if make_run else ROOT
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=full_env)
    gate = Gate(proc, state, {}, stderr, stdout, state / "tls" / "ca.crt", dict(tokens or {}))
    if not wait:
        return gate
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for line in gate.log_lines():
            if line.get("event") == "listening":
                gate.urls = line["url"]
                if tokens is None and (state / "operator-token.txt").exists():
                    gate.tokens["operator"] = (state / "operator-token.txt").read_text().strip()
                return gate
        if proc.poll() is not None:
            raise AssertionError(f"gate exited {proc.returncode}:\n{stderr.read_text()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"gate did not start in {START_TIMEOUT}s:\n{stderr.read_text()}")


@pytest.fixture
def gate_factory(tmp_path: Path) -> Iterator[Any]:
    """Start as many gates as a test needs; all are stopped (SIGTERM, then kill) afterwards."""
    started: list[Gate] = []
    counter = iter(range(100))

    def factory(*args: str, **kw: Any) -> Gate:
        gate = start_gate(tmp_path / f"gate{next(counter)}", *args, **kw)
        started.append(gate)
        return gate

    yield factory
    for gate in started:
        if gate.proc.poll() is None:
            gate.proc.send_signal(signal.SIGTERM)
            try:
                gate.proc.wait(15)
            except subprocess.TimeoutExpired:
                gate.proc.kill()
                gate.proc.wait(5)


TOKENS = {"operator": "op-" + "a" * 40, "viewer": "view-" + "b" * 40}


def start_example_gate(tmp: Path) -> Gate:
    """A gate that trusts the examples' key and hashes snapshots under examples/."""
    return start_gate(
        tmp,
        "--trust-dir",
        str(EXAMPLES / "t1_good" / "trust"),
        "--snapshot-root",
        str(EXAMPLES),
        tokens=dict(TOKENS),
    )


@pytest.fixture(scope="session")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    """The shared gate: examples' trust store, snapshots hashable under examples/."""
    g = start_example_gate(tmp_path_factory.mktemp("gate"))
    yield g
    g.stop()


# ---- request builders ----


def review(
    obj: dict[str, Any] | None,
    *,
    uid: str,
    group: str,
    version: str,
    kind: str,
    operation: str = "CREATE",
    dry_run: bool = False,
) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
            "operation": operation,
            "namespace": "payments",
            "name": "example",
            "object": obj,
            "oldObject": None,
            "dryRun": dry_run,
            "userInfo": {"username": "ci"},
        },
    }


def post_review(gate: Gate, body: dict[str, Any], *, env: str = "prod") -> dict[str, Any]:
    """POST to the webhook entry of `env` (the path the apiserver calls for that namespace)."""
    path = "/admission/v1/validate" + ("/staging" if env == "staging" else "")
    with gate.client() as c:
        r = c.post(gate.admission + path, json=body)
    assert r.status_code == 200, r.text
    resp: dict[str, Any] = r.json()["response"]
    assert resp["uid"] == body["request"]["uid"]
    return resp


def metric_value(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def scrape(gate: Gate) -> str:
    r = httpx.get(gate.metrics + "/metrics", timeout=10)
    assert r.status_code == 200
    return r.text
