"""`validate`: many folders in one call (exit = worst), and a client mistake is a usage error
(exit 2 naming what is wrong), never a BLOCK and never recorded as a decision."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from webhook.audit import AuditQuery, open_store
from webhook.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
T1, T1_BAD, T2 = EXAMPLES / "t1_good", EXAMPLES / "t1_bad_public_port", EXAMPLES / "t2_good"
TRUST = ["--trust-dir", str(T1 / "trust")]


def test_many_folders_exit_with_the_worst(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "migration", str(T1), str(T1), *TRUST]) == 0
    capsys.readouterr()
    assert main(["validate", "migration", str(T1), str(T1_BAD), *TRUST, "-o", "json"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["decision"] for x in lines] == ["ALLOW", "BLOCK"]


def test_many_folders_text_names_each_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "migration", str(T1), str(T1_BAD), *TRUST]) == 1
    out = capsys.readouterr().out
    assert f"{T1}\nALLOW T1" in out and f"{T1_BAD}\nBLOCK T1" in out


def test_a_usage_error_in_one_folder_still_decides_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["validate", "migration", str(tmp_path / "nope"), str(T1_BAD), *TRUST])
    assert code == 2
    captured = capsys.readouterr()
    assert "BLOCK T1" in captured.out
    assert f"{tmp_path / 'nope'}: not a directory" in captured.err


@pytest.mark.parametrize(
    ("scenario", "folder", "says"),
    [
        ("migration", T2, "a replication folder (it holds replication_manifest.yaml): use "
         "`migration-gate validate replication`"),
        ("replication", T1, "a migration folder (it holds migration_manifest.json): use "
         "`migration-gate validate migration`"),
    ],
)  # fmt: skip
def test_the_other_scenarios_folder_is_a_usage_error(
    scenario: str, folder: Path, says: str, capsys: pytest.CaptureFixture[str], state_dir: Path
) -> None:
    assert main(["validate", scenario, str(folder), "--audit-db", str(state_dir / "a.db")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"migration-gate: error: {folder}: {says}" in captured.err
    assert not (state_dir / "a.db").exists()  # nothing was decided, so nothing recorded


@pytest.mark.parametrize(
    ("scenario", "src", "drop"),
    [
        ("migration", T1, "app-config.yaml"),
        ("migration", T1, "migration_manifest.json"),
        ("replication", T2, "snapshot.tar.gz"),
        ("replication", T2, "replication_manifest.yaml"),
    ],
)
def test_a_missing_required_file_is_a_usage_error_naming_it(
    scenario: str, src: Path, drop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "f"
    shutil.copytree(src, folder)
    (folder / drop).unlink()
    db = tmp_path / "audit.db"
    assert main(["validate", scenario, str(folder), *TRUST, "--audit-db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"{folder}: not a complete {scenario} folder: missing {drop}" in err
    assert not db.exists()


def test_a_missing_signature_is_still_the_policies_to_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "f"
    shutil.copytree(T1, folder)
    (folder / "migration_manifest.dsse.json").unlink()
    assert main(["validate", "migration", str(folder), *TRUST, "-o", "json"]) == 1
    reasons = {r["policy"] for r in json.loads(capsys.readouterr().out)["reasons"]}
    assert "signature-required" in reasons


def test_every_decision_of_many_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "audit.db"
    assert main(["validate", "migration", str(T1), str(T1_BAD), *TRUST, "--audit-db", str(db)]) == 1
    store = open_store(db)
    try:
        records = store.query(AuditQuery(limit=10)).records
    finally:
        store.close()
    assert sorted(r.decision for r in records) == ["ALLOW", "BLOCK"]
    assert {r.source for r in records} == {"cli"}
    assert "not recorded" not in capsys.readouterr().err
