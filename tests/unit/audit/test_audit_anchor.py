"""An anchor (`--expect-head SEQ:HASH`) pins the record at SEQ, however long the chain has grown.

The attack: whoever can write the file rebuilds a chain from genesis with other content (every
hash recomputed, internally consistent) and makes it longer than the anchored head. The record
at SEQ then hashes differently, and that is what must fail, through the library, the CLI (store
and export) and the offline script of docs/audit.md.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.unit.audit.helpers import PYTHON, RunCli, make_decision, reason
from tests.unit.audit.test_audit_docs import offline_script
from webhook.audit import AuditStore, export_jsonl, open_store, verify_jsonl, verify_path
from webhook.audit.chain import Anchor, parse_anchor
from webhook.errors import InputError


def _rewritten(path: Path, count: int) -> None:
    """A fresh, internally consistent chain with different content (the forger's file)."""
    with open_store(path) as forged:
        for i in range(1, count + 1):
            forged.append(
                make_decision(i, verdict="ALLOW", app="forged"), source="api", dry_run=False
            )


def _anchor_of(store: AuditStore) -> Anchor:
    head = store.verify()
    assert head.ok and head.head_seq is not None and head.head_hash is not None
    return Anchor(head.head_seq, head.head_hash)


def test_a_chain_rewritten_from_genesis_and_extended_fails_the_anchor(
    filled: AuditStore, tmp_path: Path, run_cli: RunCli
) -> None:
    anchor = _anchor_of(filled)  # seq 10
    forged = tmp_path / "forged.db"
    _rewritten(forged, 15)
    assert verify_path(forged).ok  # internally consistent: only the anchor can tell
    result = verify_path(forged, anchor)
    assert not result.ok and result.readable and result.first_bad_seq == 10
    assert "rewritten" in (result.reason or "")
    code, out, _ = run_cli(
        "audit", "verify", "--audit-db", str(forged), "--expect-head", f"10:{anchor.hash}"
    )
    assert code == 1 and "BROKEN at seq 10" in out


def test_the_honest_extended_chain_passes_its_old_anchor(
    filled: AuditStore, run_cli: RunCli
) -> None:
    anchor = _anchor_of(filled)
    for i in range(11, 16):
        decision = make_decision(i, verdict="BLOCK", reasons=(reason("x"),))
        filled.append(decision, source="api", dry_run=False)
    assert filled.verify(anchor).ok
    code, out, _ = run_cli(
        "audit", "verify", "--audit-db", str(filled.path), "--expect-head", f"10:{anchor.hash}"
    )
    assert code == 0 and "intact: 15 records" in out
    # the same anchor with its hash in capitals is the same anchor
    assert parse_anchor(f"10:{str(anchor.hash).upper()}") == anchor


def test_an_anchor_at_an_earlier_seq_of_a_rewritten_chain_fails(
    filled: AuditStore, tmp_path: Path
) -> None:
    forged = tmp_path / "forged.db"
    _rewritten(forged, 10)  # same length as the honest one
    honest_third = _hash_at(filled.path, 3)
    assert verify_path(filled.path, Anchor(3, honest_third)).ok
    result = verify_path(forged, Anchor(3, honest_third))
    assert not result.ok and result.first_bad_seq == 3


def _hash_at(path: Path, seq: int) -> str:
    conn = sqlite3.connect(path)
    try:
        (value,) = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    finally:
        conn.close()
    return str(value)


def test_a_missing_anchor_seq_fails(filled: AuditStore, run_cli: RunCli) -> None:
    result = filled.verify(Anchor(11))
    assert (
        not result.ok
        and result.first_bad_seq == 11
        and "removed from the end" in (result.reason or "")
    )
    code, _, _ = run_cli("audit", "verify", "--audit-db", str(filled.path), "--expect-head", "11")
    assert code == 1
    code, _, _ = run_cli(
        "audit", "verify", "--audit-db", str(filled.path), "--expect-head", "11:" + "ab" * 32
    )
    assert code == 1


def test_an_export_of_a_rewritten_chain_fails_the_anchor(
    filled: AuditStore, tmp_path: Path, run_cli: RunCli
) -> None:
    anchor = _anchor_of(filled)
    forged_db = tmp_path / "forged.db"
    _rewritten(forged_db, 14)
    honest, forged = tmp_path / "honest.jsonl", tmp_path / "forged.jsonl"
    export_jsonl(filled.path, honest)
    export_jsonl(forged_db, forged)
    assert verify_jsonl(honest, anchor).ok
    assert verify_jsonl(forged).ok
    assert not verify_jsonl(forged, anchor).ok
    spec = f"10:{anchor.hash}"
    assert run_cli("audit", "verify", "--jsonl", str(honest), "--expect-head", spec)[0] == 0
    assert run_cli("audit", "verify", "--jsonl", str(forged), "--expect-head", spec)[0] == 1

    script = offline_script(tmp_path)

    def offline(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, str(script), str(path), *extra], capture_output=True, text=True, check=False
        )

    assert offline(honest, spec).returncode == 0
    done = offline(forged, spec)
    assert done.returncode == 1 and "anchor" in done.stderr
    assert offline(honest, f"11:{anchor.hash}").returncode == 1  # missing seq
    assert offline(forged).returncode == 0  # without an anchor: nothing to compare with


@pytest.mark.parametrize(
    "text", ["", "0", "-1", "x", "10:", "10:abc", "1\u0663", "10:" + "g" * 64, "9" * 19]
)
def test_malformed_anchors_are_usage_errors(text: str, filled: AuditStore, run_cli: RunCli) -> None:
    with pytest.raises(InputError, match="--expect-head"):
        parse_anchor(text)
    code, _, err = run_cli("audit", "verify", "--audit-db", str(filled.path), "--expect-head", text)
    assert code == 2 and "--expect-head" in err
