"""One default audit store for the CLI and the server, and a plain word whenever a decision is
not recorded; `audit tail` prints what its help says (the newest N, oldest first); an empty
result says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webhook.audit import open_store
from webhook.cli import main
from webhook.cli.store import default_location
from webhook.server.settings import ServerSettings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GOOD, BAD = EXAMPLES / "t1_good", EXAMPLES / "t1_bad_public_port"
TRUST = ["--trust-dir", str(GOOD / "trust")]


def test_the_default_is_the_servers(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_location() == str(state_dir / "audit.db")
    assert default_location() == str(ServerSettings(state_dir=state_dir).audit_db_path)
    monkeypatch.delenv("MIGRATION_GATE_STATE_DIR")
    assert default_location() == str(ServerSettings().audit_db_path) == ".state/audit.db"


def test_without_a_store_every_decision_says_it_was_not_recorded(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "migration", str(GOOD), str(BAD), *TRUST]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"migration-gate: note: 2 decisions not recorded: no audit store at {state_dir}/audit.db "
        "(the server's default; pass --audit-db PATH|URL to record, or --no-audit)"
    ]
    assert not (state_dir / "audit.db").exists()  # the CLI does not create the server's store


def test_no_audit_also_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "migration", str(GOOD), *TRUST, "--no-audit"]) == 0
    assert capsys.readouterr().err == "migration-gate: note: decision not recorded: --no-audit\n"


def test_the_default_store_once_it_exists_gets_the_decisions_and_tail_reads_it(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_store(state_dir / "audit.db").close()  # what `serve` creates on its first start
    assert main(["validate", "migration", str(GOOD), *TRUST]) == 0
    assert main(["validate", "migration", str(BAD), *TRUST]) == 1
    assert "not recorded" not in capsys.readouterr().err
    assert main(["audit", "tail", "-o", "json"]) == 0  # no --audit-db: the same default
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["decision"] for r in records] == ["ALLOW", "BLOCK"]  # oldest first
    assert records[0]["seq"] < records[1]["seq"]
    assert main(["audit", "verify"]) == 0
    assert "2 records" in capsys.readouterr().out


def test_env_names_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    db = tmp_path / "env.db"
    monkeypatch.setenv("MIGRATION_GATE_AUDIT_DB", str(db))
    assert main(["validate", "migration", str(GOOD), *TRUST]) == 0
    assert db.is_file() and "not recorded" not in capsys.readouterr().err


def test_tail_help_says_the_order_it_prints(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["audit", "--help"])
    assert "the newest N records, printed oldest first" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["audit", "tail", "--help"])
    assert "printed oldest first, so the newest is the last line" in " ".join(
        capsys.readouterr().out.split()
    )


def test_tail_of_newest_n_prints_them_oldest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "a.db")
    for folder in (GOOD, BAD, GOOD):
        main(["validate", "migration", str(folder), *TRUST, "--audit-db", db])
    capsys.readouterr()
    assert main(["audit", "tail", "-n", "2", "--audit-db", db, "-o", "json"]) == 0
    seqs = [json.loads(x)["seq"] for x in capsys.readouterr().out.splitlines()]
    assert seqs == [2, 3]


def test_an_empty_result_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "a.db"
    open_store(db).close()
    assert main(["audit", "tail", "--audit-db", str(db)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"no audit records match ({db})\n"
    main(["validate", "migration", str(GOOD), *TRUST, "--audit-db", str(db)])
    capsys.readouterr()
    assert main(["audit", "tail", "--audit-db", str(db), "--decision", "BLOCK"]) == 0
    assert "no audit records match" in capsys.readouterr().err


def test_readers_never_create_the_default_store(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "tail"]) == 2
    assert f"{state_dir}/audit.db: no audit store here" in capsys.readouterr().err
    assert not (state_dir / "audit.db").exists()


def test_audit_migrate_copies_the_chain_and_refuses_a_non_empty_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = str(tmp_path / "src.db")
    for folder in (GOOD, BAD):
        main(["validate", "migration", str(folder), *TRUST, "--audit-db", src])
    capsys.readouterr()
    dst = f"sqlite:///{tmp_path / 'dst.db'}"  # a URL reaches the store as given
    assert main(["audit", "migrate", "--from", src, "--to", dst, "-o", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == 2 and report["head_seq"] == 2
    assert main(["audit", "verify", "--audit-db", dst, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["head_hash"] == report["head_hash"]
    assert main(["audit", "migrate", "--from", src, "--to", dst]) == 2
    assert "destination already holds records" in capsys.readouterr().err


def test_audit_migrate_from_a_missing_store_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = tmp_path / "none.db", tmp_path / "dst.db"
    assert main(["audit", "migrate", "--from", str(src), "--to", str(dst)]) == 2
    assert f"{src}: no audit store here" in capsys.readouterr().err
    assert not src.exists() and not dst.exists()


def test_no_audit_with_a_store_is_a_contradiction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "a.db"
    assert (
        main(["validate", "migration", str(GOOD), *TRUST, "--no-audit", "--audit-db", str(db)]) == 2
    )
    assert "--no-audit and --audit-db contradict each other" in capsys.readouterr().err
    assert not db.exists()
