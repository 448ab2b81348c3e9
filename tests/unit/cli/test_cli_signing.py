"""`sign` refuses to overwrite without --force, `keygen --out k.v2` writes k.v2.key, and `pin`
writes config_sha256 (refusing a signed manifest unless it re-signs it)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from webhook.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GOOD = EXAMPLES / "t1_good"


@pytest.fixture
def signer(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh key pair and a trust dir holding its public half."""
    assert main(["keygen", "--out", str(tmp_path / "signer")]) == 0
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(tmp_path / "signer.pub", trust / "signer.pem")
    return tmp_path / "signer.key", trust


def test_keygen_keeps_a_dotted_prefix_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k.v2"), "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["private"] == str(tmp_path / "k.v2.key") and doc["public"] == str(
        tmp_path / "k.v2.pub"
    )
    assert (tmp_path / "k.v2.key").is_file() and (tmp_path / "k.v2.pub").is_file()
    assert not (tmp_path / "k.key").exists()


def test_sign_refuses_to_overwrite_without_force(
    tmp_path: Path, signer: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, trust = signer
    folder = tmp_path / "m"
    shutil.copytree(GOOD, folder)
    envelope = folder / "migration_manifest.dsse.json"
    before = envelope.read_bytes()
    assert main(["sign", "migration", str(folder), "--key", str(key)]) == 2
    assert f"{envelope}: already exists (use --force to overwrite)" in capsys.readouterr().err
    assert envelope.read_bytes() == before
    assert main(["sign", "migration", str(folder), "--key", str(key), "--force"]) == 0
    assert envelope.read_bytes() != before
    assert main(["validate", "migration", str(folder), "--trust-dir", str(trust)]) == 0


def test_sign_replication_refuses_too(tmp_path: Path, signer: tuple[Path, Path]) -> None:
    key, _ = signer
    folder = tmp_path / "r"
    shutil.copytree(EXAMPLES / "t2_good", folder)
    assert main(["sign", "replication", str(folder), "--key", str(key)]) == 2
    assert main(["sign", "replication", str(folder), "--key", str(key), "--force"]) == 0


def _unsigned(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    shutil.copytree(GOOD, folder)
    (folder / "migration_manifest.dsse.json").unlink()
    return folder


def test_pin_writes_the_configs_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _unsigned(tmp_path)
    config = folder / "app-config.yaml"
    config.write_bytes(config.read_bytes().replace(b"9102", b"9103"))
    assert main(["validate", "migration", str(folder), "--env", "staging", "-o", "json"]) == 1
    reasons = {r["policy"] for r in json.loads(capsys.readouterr().out)["reasons"]}
    assert "config-hash-mismatch" in reasons
    assert main(["pin", str(folder)]) == 0
    digest = hashlib.sha256(config.read_bytes()).hexdigest()
    assert capsys.readouterr().out.startswith(f"pinned {folder / 'migration_manifest.json'}: "
                                              f"config_sha256 {digest} (updated)")  # fmt: skip
    manifest = json.loads((folder / "migration_manifest.json").read_text())
    assert manifest["config_sha256"] == digest
    assert list(manifest) == ["app_id", "env", "version", "config_sha256"]  # order kept
    assert main(["pin", str(folder)]) == 0
    assert "(unchanged)" in capsys.readouterr().out
    assert main(["validate", "migration", str(folder), "--env", "staging", "-o", "json"]) == 1
    reasons = {r["policy"] for r in json.loads(capsys.readouterr().out)["reasons"]}
    assert "config-hash-mismatch" not in reasons  # only the env-mismatch of a prod artifact


def test_pin_keeps_the_sha256_prefix(tmp_path: Path) -> None:
    folder = _unsigned(tmp_path)
    path = folder / "migration_manifest.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "config_sha256": "sha256:" + "0" * 64}))
    assert main(["pin", str(folder)]) == 0
    want = hashlib.sha256((folder / "app-config.yaml").read_bytes()).hexdigest()
    assert json.loads(path.read_text())["config_sha256"] == "sha256:" + want


def test_pin_refuses_a_signed_manifest_unless_it_re_signs(
    tmp_path: Path, signer: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, trust = signer
    folder = tmp_path / "m"
    shutil.copytree(GOOD, folder)
    (folder / "app-config.yaml").write_text(
        (folder / "app-config.yaml").read_text().replace("9102", "9104")
    )
    manifest = (folder / "migration_manifest.json").read_bytes()
    assert main(["pin", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "is signed (migration_manifest.dsse.json)" in err and "--key KEY" in err
    assert (folder / "migration_manifest.json").read_bytes() == manifest  # untouched
    assert main(["pin", str(folder), "--key", str(key)]) == 0
    assert "re-signed" in capsys.readouterr().out
    assert main(["validate", "migration", str(folder), "--trust-dir", str(trust)]) == 0


def test_pin_without_a_config_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _unsigned(tmp_path)
    (folder / "app-config.yaml").unlink()
    assert main(["pin", str(folder)]) == 2
    assert f"{folder / 'app-config.yaml'}: no such file" in capsys.readouterr().err


def test_pin_refuses_a_config_over_the_size_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from webhook.contracts.limits import DEFAULT_LIMITS

    folder = _unsigned(tmp_path)
    manifest = (folder / "migration_manifest.json").read_bytes()
    (folder / "app-config.yaml").write_bytes(b"#" * (DEFAULT_LIMITS.max_bytes + 10))
    assert main(["pin", str(folder)]) == 2
    assert "byte limit" in capsys.readouterr().err
    assert (folder / "migration_manifest.json").read_bytes() == manifest


def test_sign_refuses_a_manifest_over_the_size_limit(
    tmp_path: Path, signer: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from webhook.contracts.limits import DEFAULT_LIMITS

    key, _ = signer
    folder = _unsigned(tmp_path)
    (folder / "migration_manifest.json").write_bytes(b" " * (DEFAULT_LIMITS.max_bytes + 1))
    assert main(["sign", "migration", str(folder), "--key", str(key)]) == 2
    assert "byte limit" in capsys.readouterr().err
    assert not (folder / "migration_manifest.dsse.json").exists()
