"""A custom CEL policy BLOCKs through every door (CLI, API, admission) with its id and message.

The bundle is the default one plus one CEL policy that the otherwise compliant t1_good example
violates; a real gate process is started with `--policy` on that file.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    EXAMPLES,
    PY,
    ROOT,
    TOKENS,
    Gate,
    post_review,
    review,
    start_gate,
)

FOLDER = EXAMPLES / "t1_good"
POLICY_ID = "no-https-8443"
MESSAGE = "port 8443 is reserved for the mesh sidecar"
CEL_POLICY = f"""
  - id: {POLICY_ID}
    severity: high
    scenarios: [T1]
    expression: '!config.ports.exists(p, p.port == 8443)'
    message: {MESSAGE}
    field: ports
    actions: {{prod: enforce, staging: warn}}
"""
FILES = ("migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    default = (ROOT / "webhook" / "policies" / "default.yaml").read_text()
    path = tmp_path_factory.mktemp("cel") / "bundle.yaml"
    path.write_text(default.rstrip("\n") + "\n" + CEL_POLICY)
    return path


@pytest.fixture(scope="module")
def cel_gate(tmp_path_factory: pytest.TempPathFactory, bundle: Path) -> Iterator[Gate]:
    gate = start_gate(
        tmp_path_factory.mktemp("cel-gate"),
        "--policy",
        str(bundle),
        "--trust-dir",
        str(FOLDER / "trust"),
        tokens=dict(TOKENS),
    )
    yield gate
    gate.stop()


def assert_cel_block(reasons: list[dict[str, Any]]) -> None:
    ours = [r for r in reasons if r["policy"] == POLICY_ID]
    assert [(r["message"], r["field"], r["file"], r["action"]) for r in ours] == [
        (MESSAGE, "ports", "app-config.yaml", "enforce")
    ]
    # nothing else is wrong with t1_good: the CEL policy alone blocks it
    assert {r["policy"] for r in reasons} == {POLICY_ID}


def test_cli_door(bundle: Path) -> None:
    proc = subprocess.run(
        [
            *(PY, "-m", "webhook.cli", "validate", "migration", str(FOLDER)),
            *("--policy", str(bundle), "--trust-dir", str(FOLDER / "trust")),
            *("--output", "json"),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["decision"] == "BLOCK"
    assert_cel_block(out["reasons"])


def test_cli_door_text_names_the_policy(bundle: Path) -> None:
    proc = subprocess.run(
        [
            *(PY, "-m", "webhook.cli", "validate", "migration", str(FOLDER)),
            *("--policy", str(bundle), "--trust-dir", str(FOLDER / "trust")),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1
    assert f"[{POLICY_ID}] {MESSAGE}" in proc.stdout.decode()


def test_api_door(cel_gate: Gate) -> None:
    files = [(n, (n, (FOLDER / n).read_bytes(), "application/octet-stream")) for n in FILES]
    with cel_gate.client() as c:
        r = c.post(
            f"{cel_gate.api}/api/v1/validate/migration",
            files=files,
            data={"env": "prod"},
            headers=cel_gate.auth("operator"),
        )
    assert r.status_code == 422, r.text
    got = r.json()
    assert got["decision"] == "BLOCK"
    assert_cel_block(got["reasons"])


def test_admission_door(cel_gate: Gate) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "t1-good",
            "namespace": "payments",
            "labels": {"migrationgate.io/scenario": "migration"},
        },
        "data": {n: (FOLDER / n).read_text() for n in FILES},
    }
    resp = post_review(cel_gate, review(cm, uid="cel-cm", group="", version="v1", kind="ConfigMap"))
    assert resp["allowed"] is False
    assert resp["status"]["code"] == 403
    assert any(
        f"[{POLICY_ID}]" in line and MESSAGE in line
        for line in resp["status"]["message"].splitlines()
    )


def test_a_broken_expression_leaves_the_gate_not_ready(
    gate_factory: Any, tmp_path: Path, bundle: Path
) -> None:
    """Refused at load, named with the policy id and position; the gate decides nothing."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(bundle.read_text().replace("p.port == 8443)", "p.port == 8443"))
    gate = gate_factory("--policy", str(broken), "--trust-dir", str(FOLDER / "trust"))
    errors = [ln["msg"] for ln in gate.log_lines() if ln.get("event") == "config-invalid"]
    assert any(
        f"policy {POLICY_ID!r}" in m and "expression" in m and "line 1, column 39" in m
        for m in errors
    ), errors
    files = [(n, (n, (FOLDER / n).read_bytes(), "application/octet-stream")) for n in FILES]
    with gate.client() as c:
        r = c.post(
            f"{gate.api}/api/v1/validate/migration",
            files=files,
            headers=gate.auth("operator"),
        )
    assert r.status_code != 200, r.text
