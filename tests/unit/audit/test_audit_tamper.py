"""Tampering is detected with the right seq, through store.verify() and `audit verify`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.unit.audit.helpers import RunCli, make_decision
from webhook.audit import AuditStore, export_jsonl, open_store, verify_jsonl, verify_path

DROP_GUARDS = (
    "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; "
    "DROP TRIGGER IF EXISTS audit_log_chain;"
)


def tamper(db: Path, sql: str, *params: object) -> None:
    """What an attacker with file access does: drop the guards, then edit."""
    conn = sqlite3.connect(db)
    conn.executescript(DROP_GUARDS)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def check_broken(store: AuditStore, run_cli: RunCli, bad_seq: int, words: str) -> None:
    result = store.verify()
    assert not result.ok and result.readable
    assert result.first_bad_seq == bad_seq
    assert words in (result.reason or "")
    assert result.checked == bad_seq - 1
    code, out, _ = run_cli("audit", "verify", "--audit-db", str(store.path))
    assert code == 1
    assert f"BROKEN at seq {bad_seq}:" in out


def test_intact_chain_verifies(filled: AuditStore, run_cli: RunCli) -> None:
    result = filled.verify()
    assert result.ok and result.checked == 10 and result.head_seq == 10
    code, out, _ = run_cli("audit", "verify", "--audit-db", str(filled.path))
    assert code == 0
    assert "intact: 10 records, head seq 10" in out


def test_edited_row(filled: AuditStore, run_cli: RunCli) -> None:
    tamper(filled.path, "UPDATE audit_log SET decision = 'BLOCK' WHERE seq = 4")
    check_broken(filled, run_cli, 4, "hash mismatch")


def test_edited_json_column_semantically(filled: AuditStore, run_cli: RunCli) -> None:
    tamper(
        filled.path,
        "UPDATE audit_log SET subject = ? WHERE seq = 6",
        '{"app_id":"other","env":"prod","version":"4.2.0"}',
    )
    check_broken(filled, run_cli, 6, "hash mismatch")


def test_deleted_row(filled: AuditStore, run_cli: RunCli) -> None:
    tamper(filled.path, "DELETE FROM audit_log WHERE seq = 5")
    check_broken(filled, run_cli, 5, "missing")


def test_deleted_first_row(filled: AuditStore, run_cli: RunCli) -> None:
    tamper(filled.path, "DELETE FROM audit_log WHERE seq = 1")
    check_broken(filled, run_cli, 1, "missing")


def test_swapped_rows(filled: AuditStore, run_cli: RunCli) -> None:
    conn = sqlite3.connect(filled.path)
    conn.executescript(DROP_GUARDS)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(audit_log)") if r[1] != "seq"]
    a = conn.execute(f"SELECT {', '.join(cols)} FROM audit_log WHERE seq = 3").fetchone()
    b = conn.execute(f"SELECT {', '.join(cols)} FROM audit_log WHERE seq = 7").fetchone()
    assign = ", ".join(f"{c} = ?" for c in cols)
    conn.execute(f"UPDATE audit_log SET {assign} WHERE seq = 3", b)
    conn.execute(f"UPDATE audit_log SET {assign} WHERE seq = 7", a)
    conn.commit()
    conn.close()
    check_broken(filled, run_cli, 3, "prev_hash does not link")


def test_inserted_row_renumbering_the_rest(filled: AuditStore, run_cli: RunCli) -> None:
    # Insert a forged record as seq 4 by shifting 4..10 up by one.
    conn = sqlite3.connect(filled.path)
    conn.executescript(DROP_GUARDS)
    conn.execute("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4")
    conn.execute("UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100")
    conn.execute(
        "INSERT INTO audit_log SELECT 4, ts, 'forged', scenario, source, 'ALLOW', env, dry_run, "
        "subject, '[]', warnings, audited, digests, policy_bundle, hash, hash FROM audit_log "
        "WHERE seq = 3"
    )
    conn.commit()
    conn.close()
    check_broken(filled, run_cli, 4, "hash mismatch")


def test_removed_tail_needs_an_anchor(filled: AuditStore, run_cli: RunCli) -> None:
    head = filled.verify()
    tamper(filled.path, "DELETE FROM audit_log WHERE seq >= 9")
    assert filled.verify().ok  # an unkeyed chain cannot see a cut end by itself ...
    code, out, _ = run_cli(
        "audit",
        "verify",
        "--audit-db",
        str(filled.path),
        "--expect-head",
        f"{head.head_seq}:{head.head_hash}",
    )
    assert (
        code == 1 and "BROKEN at seq 9" in out and "removed from the end" in out
    )  # ... an anchor can
    code, _, _ = run_cli("audit", "verify", "--audit-db", str(filled.path), "--expect-head", "8")
    assert code == 0


def test_anchor_with_wrong_hash(filled: AuditStore, run_cli: RunCli) -> None:
    code, out, _ = run_cli(
        "audit", "verify", "--audit-db", str(filled.path), "--expect-head", "10:" + "ee" * 32
    )
    assert code == 1 and "BROKEN at seq 10" in out and "the anchor says" in out


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_file_is_unreadable(db: Path, run_cli: RunCli, keep: float) -> None:
    with open_store(db) as s:
        for i in range(300):
            s.append(make_decision(i, app="x" * 200), source="cli", dry_run=False)
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.truncate(int(size * keep))
    result = verify_path(db)
    assert not result.ok and not result.readable and result.first_bad_seq is None
    assert str(db) in (result.reason or "")
    code, _, err = run_cli("audit", "verify", "--audit-db", str(db))
    assert code == 2
    assert "unreadable" in err and str(db) in err


def test_garbage_file_is_unreadable(db: Path, run_cli: RunCli) -> None:
    db.write_bytes(b"this is not a database" * 100)
    code, _, err = run_cli("audit", "verify", "--audit-db", str(db))
    assert code == 2 and "unreadable" in err


def test_empty_file_is_not_taken_for_an_empty_chain(db: Path, run_cli: RunCli) -> None:
    db.write_bytes(b"")
    code, _, err = run_cli("audit", "verify", "--audit-db", str(db))
    assert code == 2 and "not a migration-gate audit store" in err


def test_missing_file_is_unreadable_and_not_created(tmp_path: Path, run_cli: RunCli) -> None:
    missing = tmp_path / "nope.db"
    code, _, err = run_cli("audit", "verify", "--audit-db", str(missing))
    assert code == 2 and "no audit store" in err
    assert not missing.exists()


def test_export_verifies_offline_and_detects_edits(
    filled: AuditStore, tmp_path: Path, run_cli: RunCli
) -> None:
    out = tmp_path / "archive.jsonl"
    code, stdout, _ = run_cli("audit", "export", "--audit-db", str(filled.path), "--out", str(out))
    assert code == 0 and "exported 10 records" in stdout
    lines = out.read_text().splitlines()
    assert len(lines) == 10
    assert verify_jsonl(out).ok
    code, stdout, _ = run_cli("audit", "verify", "--jsonl", str(out))
    assert code == 0 and "intact: 10 records" in stdout

    edited = tmp_path / "edited.jsonl"
    edited.write_text(
        "\n".join(lines).replace('"request_id":"req-000007"', '"request_id":"req-999999"') + "\n"
    )
    result = verify_jsonl(edited)
    assert not result.ok and result.first_bad_seq == 7

    dropped = tmp_path / "dropped.jsonl"
    dropped.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    assert verify_jsonl(dropped).first_bad_seq == 3

    extra = tmp_path / "extra.jsonl"
    extra.write_text("\n".join([*lines[:4], lines[4][:-1] + ',"note":"x"}', *lines[5:]]) + "\n")
    result = verify_jsonl(extra)
    assert result.first_bad_seq == 5 and "exactly the record fields" in (result.reason or "")

    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("\n".join(lines[:2]) + "\n{not json\n")
    result = verify_jsonl(garbage)
    assert not result.ok and result.first_bad_seq == 3 and "line 3" in (result.reason or "")

    code, _, err = run_cli("audit", "verify", "--jsonl", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot open export" in err


def test_export_matches_the_store(filled: AuditStore, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    assert export_jsonl(filled.path, out) == 10
    assert verify_jsonl(out).head_hash == filled.verify().head_hash


def test_query_of_a_row_edited_into_garbage_is_an_error_not_a_crash(filled: AuditStore) -> None:
    from webhook.audit import AuditQuery, AuditReadError

    tamper(filled.path, "UPDATE audit_log SET decision = 'MAYBE' WHERE seq = 10")
    with pytest.raises(AuditReadError, match="record 10"):
        filled.query(AuditQuery(limit=1))
    tamper(filled.path, "UPDATE audit_log SET reasons = '[not json' WHERE seq = 9")
    result = filled.verify()
    assert result.first_bad_seq == 9 and "not valid JSON" in (result.reason or "")
