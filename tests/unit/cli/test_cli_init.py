"""`init migration|replication DIR`: a complete folder that validates as the printed next steps
say (ALLOW in staging unsigned; ALLOW in prod once signed), and never over a user's files."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from webhook.cli import main


def printed_commands(out: str) -> list[list[str]]:
    return [
        shlex.split(line.strip())[1:]
        for line in out.splitlines()
        if line.strip().startswith("migration-gate ")
    ]


@pytest.mark.parametrize("scenario", ["migration", "replication"])
def test_the_printed_steps_work_as_printed(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(["init", scenario, "f"]) == 0
    out = capsys.readouterr().out
    steps = printed_commands(out)
    assert steps[0] == ["validate", scenario, "f", "--env", "staging"]
    assert main(steps[0]) == 0  # ALLOW in staging, unsigned
    capsys.readouterr()
    # the signing recipe: keygen, sign, (copy the .pub), validate against that trust dir
    keygen, sign, validate = (s for s in steps[1:] if s[0] in ("keygen", "sign", "validate"))
    assert main(keygen) == 0 and main(sign) == 0
    capsys.readouterr()
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "signer.pub").write_bytes((tmp_path / "signer.pub").read_bytes())
    assert main([*validate, "-o", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["decision"] == "ALLOW" and doc["audited"] == []  # signed: nothing left to note


@pytest.mark.parametrize("scenario", ["migration", "replication"])
def test_prod_folder_signed_at_init_allows_in_prod(
    scenario: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    trust = tmp_path / "trust"
    trust.mkdir()
    (trust / "k.pem").write_bytes((tmp_path / "k.pub").read_bytes())
    folder = tmp_path / "f"
    assert (
        main(["init", scenario, str(folder), "--env", "prod", "--key", str(tmp_path / "k.key")])
        == 0
    )
    capsys.readouterr()
    assert main(["validate", scenario, str(folder), "--trust-dir", str(trust), "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "ALLOW"


def test_an_unsigned_prod_folder_blocks_only_for_the_signature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["init", "migration", str(tmp_path / "f"), "--env", "prod", "--app-id", "shop"]) == 0
    )
    capsys.readouterr()
    code = main(
        ["validate", "migration", str(tmp_path / "f"), "--trust-dir", str(tmp_path), "-o", "json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and doc["subject"]["app_id"] == "shop"
    assert {r["policy"] for r in doc["reasons"]} <= {"signature-required", "trust-store-empty"}


def test_init_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "app-config.yaml").write_text("mine\n")
    assert main(["init", "migration", str(folder)]) == 2
    assert f"{folder / 'app-config.yaml'}: already exists (use --force" in capsys.readouterr().err
    assert (folder / "app-config.yaml").read_text() == "mine\n"
    assert not (folder / "migration_manifest.json").exists()  # nothing half-written
    assert main(["init", "migration", str(folder), "--force"]) == 0


def test_init_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["init", "replication", str(tmp_path / name)]) == 0
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert len(files) == 3
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
