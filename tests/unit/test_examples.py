"""Every example folder through the CLI (in-process `main(argv)`): decision and policy ids match."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from webhook.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FOLDERS = sorted(p for p in EXAMPLES.iterdir() if (p / "expected.json").is_file())


def scenario(folder: Path) -> str:
    return "migration" if folder.name.startswith("t1") else "replication"


def door_env(folder: Path) -> str:
    """The env to evaluate through: expected.json's `env` (absent = prod, the default door)."""
    expected = json.loads((folder / "expected.json").read_text())
    env = expected.get("env", "prod")
    assert env in ("prod", "staging"), f"{folder.name}: expected.json env {env!r}"
    return str(env)


def run_raw(
    folder: Path, capsys: pytest.CaptureFixture[str], *extra: str, env: str | None = None
) -> tuple[int, str]:
    code = main(
        [
            "validate",
            scenario(folder),
            str(folder),
            "--output",
            "json",
            "--trust-dir",
            str(folder / "trust"),
            "--env",
            env or door_env(folder),
            *extra,
        ]
    )
    return code, capsys.readouterr().out


def run_cli(
    folder: Path, capsys: pytest.CaptureFixture[str], *extra: str, env: str | None = None
) -> tuple[int, dict]:
    code, out = run_raw(folder, capsys, *extra, env=env)
    return code, json.loads(out)


def test_examples_exist() -> None:
    names = {p.name for p in FOLDERS}
    required = {
        "t1_good",
        "t2_good",
        "t1_bad_tls_disabled",
        "t1_bad_public_port",
        "t1_bad_hash_mismatch",
        "t1_bad_missing_field",
        "t1_bad_no_secrets_ref",
        "t1_bad_privileged",
        "t2_bad_snapshot_altered",
        "t2_bad_wal_tampered",
        "t2_bad_weak_hash",
        "t2_bad_untrusted_signature",
        "t1_staging_warn",
    }
    assert required <= names


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_example(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = json.loads((folder / "expected.json").read_text())
    code, report = run_cli(folder, capsys)
    assert report["decision"] == expected["decision"], report["reasons"]
    assert report["subject"]["env"] == expected.get("env", "prod")
    assert code == (0 if expected["decision"] == "ALLOW" else 1)
    found = {r["policy"] for r in report["reasons"]}
    # exact: a stray reason (an unsigned example, an empty trust store) would hide the one shown
    assert found == set(expected["policies"]), report["reasons"]
    warned = {r["policy"] for r in report["warnings"]}
    assert set(expected.get("warnings", [])) <= warned
    # every reason names the file it is about, or the step that failed
    assert all(r["file"] or r["field"] for r in report["reasons"])


def test_staging_example_is_blocked_in_prod(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The staging example, promoted unchanged to prod (env flipped, hash re-pinned), is BLOCKed."""
    import hashlib

    src = EXAMPLES / "t1_staging_warn"
    dst = tmp_path / "t1_promoted"
    shutil.copytree(src, dst)
    (dst / "migration_manifest.dsse.json").unlink(missing_ok=True)
    cfg = (dst / "app-config.yaml").read_bytes().replace(b"env: staging", b"env: prod")
    (dst / "app-config.yaml").write_bytes(cfg)
    manifest = json.loads((dst / "migration_manifest.json").read_text())
    manifest.update(env="prod", config_sha256=hashlib.sha256(cfg).hexdigest())
    (dst / "migration_manifest.json").write_text(json.dumps(manifest))
    code, report = run_cli(dst, capsys, env="prod")
    expected = json.loads((src / "expected.json").read_text())
    assert code == 1 and report["decision"] == "BLOCK"
    assert set(expected["prod_blocks"]) <= {r["policy"] for r in report["reasons"]}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_example_through_the_other_door_is_env_mismatch(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11 item 2: every example's artifacts claim their env; another door BLOCKs them."""
    other = "prod" if door_env(folder) == "staging" else "staging"
    code, report = run_cli(folder, capsys, env=other)
    assert code == 1 and report["decision"] == "BLOCK"
    assert report["subject"]["env"] == other
    assert "env-mismatch" in {r["policy"] for r in report["reasons"]}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_reports_are_deterministic(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Same inputs twice: byte-identical JSON apart from request_id and timestamp."""
    raw = [run_raw(folder, capsys)[1] for _ in range(2)]
    masked = []
    for text in raw:
        report = json.loads(text)
        masked.append(
            text.replace(report["request_id"], "<id>").replace(report["timestamp"], "<ts>")
        )
    assert raw[0] != raw[1]  # ids differ, so the masking below is doing real work
    assert masked[0] == masked[1]
