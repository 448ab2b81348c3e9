"""The CLI in-process via main(argv): exit codes, key management, signing and verification."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from webhook.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "migration", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["validate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["validate", "migration", str(tmp_path), "--output", "yaml"])
    assert info.value.code == 2


def test_unreadable_policy_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("policies: [")
    code = main(["validate", "migration", str(EXAMPLES / "t1_good"), "--policy", str(bad)])
    assert code == 2
    assert str(bad) in capsys.readouterr().err


def test_text_output_reads_like_a_linter(capsys: pytest.CaptureFixture[str]) -> None:
    folder = EXAMPLES / "t1_bad_tls_disabled"
    code = main(["validate", "migration", str(folder), "--trust-dir", str(folder / "trust")])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("BLOCK T1 app_id=payments env=prod version=4.2.0")
    assert "error   app-config.yaml: tls.enabled: [tls-required]" in out
    assert "found false" in out


def test_keygen_sign_verify_roundtrip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "m"
    shutil.copytree(EXAMPLES / "t1_good", folder)
    (folder / "migration_manifest.dsse.json").unlink()
    trust = tmp_path / "trust"
    trust.mkdir()
    for alg in ("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-pss"):
        assert main(["keygen", "--alg", alg, "--out", str(tmp_path / alg)]) == 0
        assert (tmp_path / f"{alg}.key").stat().st_mode & 0o777 == 0o600
        shutil.copy(tmp_path / f"{alg}.pub", trust / f"{alg}.pem")
    capsys.readouterr()
    assert (
        main(
            [
                "sign",
                "migration",
                str(folder),
                "--key",
                str(tmp_path / "ecdsa-p256.key"),
                "--key",
                str(tmp_path / "rsa-pss.key"),
            ]
        )
        == 0
    )
    envelope = folder / "migration_manifest.dsse.json"
    assert (
        main(
            [
                "verify",
                str(envelope),
                "--trust-dir",
                str(trust),
                "--threshold",
                "2",
                "--payload",
                str(folder / "migration_manifest.json"),
            ]
        )
        == 0
    )
    assert main(["verify", str(envelope), "--trust-dir", str(trust), "--threshold", "3"]) == 2
    assert "3 distinct trusted keys must sign, 2 did" in capsys.readouterr().err
    # the signed folder passes validation with that trust store
    assert main(["validate", "migration", str(folder), "--trust-dir", str(trust)]) == 0


def test_verify_detects_other_payload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = EXAMPLES / "t1_bad_signature_other_manifest"
    code = main(
        [
            "verify",
            str(folder / "migration_manifest.dsse.json"),
            "--trust-dir",
            str(folder / "trust"),
            "--payload",
            str(folder / "migration_manifest.json"),
        ]
    )
    assert code == 1
    assert "different payload" in capsys.readouterr().err


def test_sign_replication_then_validate(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    shutil.copytree(EXAMPLES / "t2_good", folder)
    (folder / "snapshot.dsse.json").unlink()
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(tmp_path / "k.pub", trust / "k.pem")
    assert main(["sign", "replication", str(folder), "--key", str(tmp_path / "k.key")]) == 0
    assert main(["validate", "replication", str(folder), "--trust-dir", str(trust)]) == 0


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 2
    assert main(["keygen", "--out", str(tmp_path / "k"), "--force"]) == 0


def test_policy_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "show", "--output", "json"]) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["digest"].startswith("sha256:")
    ids = {p["id"] for p in bundle["policies"]}
    assert {"tls-required", "no-public-bind", "signature-required", "weak-hash-forbidden"} <= ids
    assert main(["policy", "show"]) == 0
    assert bundle["digest"] in capsys.readouterr().out


def test_audit_db_records_cli_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "audit.db"
    folder = EXAMPLES / "t1_bad_public_port"
    assert (
        main(
            [
                "validate",
                "migration",
                str(folder),
                "--trust-dir",
                str(folder / "trust"),
                "--audit-db",
                str(db),
            ]
        )
        == 1
    )
    assert main(["audit", "verify", "--audit-db", str(db)]) == 0
    capsys.readouterr()
    assert main(["audit", "tail", "--audit-db", str(db), "--output", "json"]) == 0
    assert "no-public-bind" in capsys.readouterr().out
