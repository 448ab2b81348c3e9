"""`migration-gate audit verify|tail|export|migrate` against a real PostgreSQL store, the URL
passed as --audit-db and the password as a file: the same answers as on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.postgres.cluster import WRITER_PW, Cluster
from tests.postgres.decisions import make_decision
from tests.postgres.test_pg_tamper import DROP
from webhook.audit import open_store, verify_jsonl
from webhook.audit.target import PASSWORD_ENV, PASSWORD_FILE_ENV, PostgresTarget, parse_target

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, password_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATION_GATE_")}
    env.pop(PASSWORD_ENV, None)
    env[PASSWORD_FILE_ENV] = str(password_file)
    return subprocess.run(
        [sys.executable, "-m", "webhook.cli", "audit", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


def test_verify_tail_export_migrate(
    pg_url: str, cluster: Cluster, password_file: Path, tmp_path: Path
) -> None:
    with open_store(pg_url) as store:
        for i in range(1, 8):
            store.append(make_decision(i), source="api", dry_run=False)
        head = store.verify().head_hash
    ok = cli(
        "verify", "--audit-db", pg_url, "--expect-head", f"7:{head}", password_file=password_file
    )
    assert ok.returncode == 0, ok.stderr
    assert f"7 records, head seq 7 hash {head}" in ok.stdout
    tail = cli("tail", "--audit-db", pg_url, "-n", "3", password_file=password_file)
    assert tail.returncode == 0, tail.stderr
    assert [line.split()[0] for line in tail.stdout.splitlines()] == ["5", "6", "7"]
    out = tmp_path / "chain.jsonl"
    exported = cli("export", "--audit-db", pg_url, "--out", str(out), password_file=password_file)
    assert exported.returncode == 0, exported.stderr
    assert verify_jsonl(out).head_hash == head
    copy = tmp_path / "copy.db"
    moved = cli("migrate", "--from", pg_url, "--to", str(copy), password_file=password_file)
    assert moved.returncode == 0, moved.stderr
    assert cli("verify", "--audit-db", str(copy), password_file=password_file).returncode == 0
    for proc in (ok, tail, exported, moved):
        assert WRITER_PW not in proc.stdout + proc.stderr
    # tampered inside the database: exit 1 at the right seq
    target = parse_target(pg_url, environ={})
    assert isinstance(target, PostgresTarget)
    with cluster.admin(dbname=target.dbname) as conn:
        for sql in DROP:
            conn.execute(sql.encode())
        conn.execute(b"UPDATE audit_log SET decision = 'BLOCK' WHERE seq = 4")
    broken = cli("verify", "--audit-db", pg_url, password_file=password_file)
    assert broken.returncode == 1 and "BROKEN at seq 4" in broken.stdout
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    refused = cli("verify", "--audit-db", pg_url, password_file=wrong)
    assert refused.returncode == 2 and "password authentication failed" in refused.stderr
