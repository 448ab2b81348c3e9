"""Every example through every door gives the CLI's decision and reasons.

Doors: the operator API (multipart, the folder's exact files), admission with a labelled
ConfigMap (exact bytes), admission with the CRD (spec fields; replication snapshots by file://).
Reference: `python -m webhook.cli validate ... --output json --trust-dir DIR/trust`, a real process.
Each example goes through the door of its env (expected.json `env`, absent: prod): `--env`, the
API's `env` field, the admission path of a namespace labelled with that env.
"""

from __future__ import annotations

import base64
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import (
    PY,
    ROOT,
    Gate,
    example_folders,
    post_review,
    review,
)

FOLDERS = example_folders()
IDS = [f.name for f in FOLDERS]
#: findings that need the snapshot/WAL bytes, which a ConfigMap does not carry


def scenario(folder: Path) -> str:
    return "migration" if folder.name.startswith("t1") else "replication"


def door_env(folder: Path) -> str:
    env = json.loads((folder / "expected.json").read_text()).get("env", "prod")
    assert env in ("prod", "staging"), (folder, env)
    return str(env)


def reason_keys(reasons: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str]]:
    return sorted((r["policy"], r["field"], r.get("file"), r["message"]) for r in reasons)


def policies(decision: dict[str, Any]) -> set[str]:
    return {r["policy"] for r in decision["reasons"]}


def _cli(folder: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [
            PY,
            "-m",
            "webhook.cli",
            "validate",
            scenario(folder),
            str(folder),
            "--output",
            "json",
            "--trust-dir",
            str(folder / "trust"),
            "--env",
            door_env(folder),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode in (0, 1), proc.stderr.decode()
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def cli_results() -> dict[str, dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(IDS, pool.map(_cli, FOLDERS), strict=True))


def _text(folder: Path, name: str) -> str | None:
    path = folder / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


# ---- the API door ----


def api_files(folder: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    names = (
        ["migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json"]
        if scenario(folder) == "migration"
        else ["replication_manifest.yaml", "snapshot.tar.gz", "snapshot.dsse.json"]
    )
    files = [
        (n, (n, (folder / n).read_bytes(), "application/octet-stream"))
        for n in names
        if (folder / n).is_file()
    ]
    wal_dir = folder / "wal_files"
    if wal_dir.is_dir():
        for wal in sorted(wal_dir.iterdir()):
            files.append(("wal_files", (wal.name, wal.read_bytes(), "application/octet-stream")))
    return files


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_api_door_matches_cli(
    gate: Gate, folder: Path, cli_results: dict[str, dict[str, Any]]
) -> None:
    expected = json.loads((folder / "expected.json").read_text())
    cli = cli_results[folder.name]
    with gate.client() as c:
        r = c.post(
            f"{gate.api}/api/v1/validate/{scenario(folder)}",
            files=api_files(folder),
            data={"env": door_env(folder)},
            headers=gate.auth("operator"),
        )
    assert r.status_code == (200 if cli["decision"] == "ALLOW" else 422), r.text
    got = r.json()
    assert got["decision"] == cli["decision"] == expected["decision"]
    assert policies(got) == policies(cli)
    assert set(expected["policies"]) <= policies(got)
    assert reason_keys(got["reasons"]) == reason_keys(cli["reasons"])
    assert reason_keys(got["warnings"]) == reason_keys(cli["warnings"])
    assert got["digests"] == cli["digests"]
    assert r.headers["x-request-id"] == got["request_id"]


# ---- admission: labelled ConfigMap ----


def config_map(folder: Path) -> dict[str, Any]:
    if scenario(folder) == "migration":
        label = "migration"
        keys = {
            n: n
            for n in ("migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json")
        }
    else:
        label = "replication"
        keys = {
            "replication_manifest.yaml": "replication_manifest.yaml",
            "attestation.dsse.json": "snapshot.dsse.json",
        }
    data = {k: t for k, src in keys.items() if (t := _text(folder, src)) is not None}
    if label == "replication":
        # the same file:// contract as spec.snapshot.uri: the gate hashes it under its root
        data["snapshot.uri"] = (folder / "snapshot.tar.gz").resolve().as_uri()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": folder.name.replace("_", "-"),
            "namespace": "payments",
            "labels": {"migrationgate.io/scenario": label},
        },
        "data": data,
    }


def _message_lines(resp: dict[str, Any]) -> list[str]:
    return resp["status"]["message"].splitlines()[1:] if not resp["allowed"] else []


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_admission_configmap_matches_cli(
    gate: Gate, folder: Path, cli_results: dict[str, dict[str, Any]]
) -> None:
    cli = cli_results[folder.name]
    uid = f"cm-{folder.name}"
    resp = post_review(
        gate,
        review(config_map(folder), uid=uid, group="", version="v1", kind="ConfigMap"),
        env=door_env(folder),
    )
    got = _audited(gate, uid)
    assert resp["allowed"] is (cli["decision"] == "ALLOW")
    assert got["decision"] == cli["decision"]
    assert reason_keys(got["reasons"]) == reason_keys(cli["reasons"])
    assert reason_keys(got["warnings"]) == reason_keys(cli["warnings"])
    if not resp["allowed"]:
        assert resp["status"]["code"] == 403
        lines = _message_lines(resp)
        assert len(lines) == len(cli["reasons"])
        for reason in cli["reasons"]:
            assert any(f"[{reason['policy']}]" in ln and reason["message"] in ln for ln in lines)
    assert len(resp.get("warnings", [])) == len(cli["warnings"])


def _audited(gate: Gate, request_id: str) -> dict[str, Any]:
    with gate.client() as c:
        r = c.get(
            f"{gate.api}/api/v1/audit/logs",
            params={"request_id": request_id},
            headers=gate.auth("viewer"),
        )
    assert r.status_code == 200, r.text
    records = r.json()["records"]
    assert len(records) == 1, records
    rec: dict[str, Any] = records[0]
    assert rec["source"] == "admission"
    return rec


# ---- admission: CRDs ----


def migration_request(folder: Path) -> dict[str, Any]:
    manifest = json.loads((folder / "migration_manifest.json").read_text())
    spec: dict[str, Any] = {"config": (folder / "app-config.yaml").read_text()}
    for crd, key in (
        ("appId", "app_id"),
        ("env", "env"),
        ("version", "version"),
        ("configSha256", "config_sha256"),
    ):
        if key in manifest:
            spec[crd] = manifest[key]
    sig = folder / "migration_manifest.dsse.json"
    if sig.is_file():
        spec["signature"] = json.loads(sig.read_text())
    return {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "MigrationRequest",
        "metadata": {"name": "m", "namespace": "payments"},
        "spec": spec,
    }


def replication_request(folder: Path) -> dict[str, Any]:
    manifest = yaml.safe_load((folder / "replication_manifest.yaml").read_text())
    spec: dict[str, Any] = {}
    for crd, key in (
        ("sourceDb", "source_db"),
        ("targetDb", "target_db"),
        ("env", "env"),
        ("expectedSnapshotHash", "expected_snapshot_hash"),
        ("syncMode", "sync_mode"),
        ("walFiles", "wal_files"),
    ):
        if key in manifest:
            spec[crd] = manifest[key]
    att = folder / "snapshot.dsse.json"
    if att.is_file():
        spec["attestation"] = json.loads(att.read_text())
    spec["snapshot"] = {"uri": (folder / "snapshot.tar.gz").resolve().as_uri()}
    return {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "ReplicationRequest",
        "metadata": {"name": "r", "namespace": "payments"},
        "spec": spec,
    }


def _signed_payload_differs(folder: Path) -> bool:
    """A CRD's spec is the *file's* manifest; a replayed signature covers another one."""
    sig = folder / "migration_manifest.dsse.json"
    if not sig.is_file():
        return False
    payload = base64.b64decode(json.loads(sig.read_text())["payload"])
    return payload != (folder / "migration_manifest.json").read_bytes()


@pytest.mark.parametrize("folder", FOLDERS, ids=IDS)
def test_admission_crd_matches_cli(
    gate: Gate, folder: Path, cli_results: dict[str, dict[str, Any]]
) -> None:
    cli = cli_results[folder.name]
    uid = f"crd-{folder.name}"
    if scenario(folder) == "migration":
        obj, kind = migration_request(folder), "MigrationRequest"
    else:
        obj, kind = replication_request(folder), "ReplicationRequest"
    resp = post_review(
        gate,
        review(obj, uid=uid, group="migrationgate.io", version="v1alpha1", kind=kind),
        env=door_env(folder),
    )
    got = _audited(gate, uid)
    assert resp["allowed"] is (cli["decision"] == "ALLOW")
    assert got["decision"] == cli["decision"]
    if _signed_payload_differs(folder):
        # the door refuses a spec that the signed payload does not state (signature-invalid)
        assert "signature-invalid" in policies(got)
        assert any(r["field"] == "spec.signature" for r in got["reasons"])
    else:
        assert policies(got) == policies(cli)
