"""Several processes and many threads on one file: one gapless chain, nothing reported is lost."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.unit.audit.helpers import HERE, PYTHON, child_env, make_decision
from webhook.audit import AuditQuery, AuditRecord, AuditStore, open_store, verify_path

CHILD = str(HERE / "audit_writer_child.py")


def stored(db: Path) -> dict[int, str]:
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT seq, request_id FROM audit_log").fetchall())
    finally:
        conn.close()


def parse(out: str) -> dict[int, str]:
    pairs = [line.split(" ", 1) for line in out.splitlines() if line.strip()]
    return {int(seq): rid for seq, rid in pairs}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_four_processes_500_each(db: Path) -> None:
    open_store(db).close()
    procs = [
        subprocess.Popen(
            [PYTHON, CHILD, str(db), f"p{i}", "500", "4"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        for i in range(4)
    ]
    reported: dict[int, str] = {}
    for p in procs:
        out, err = p.communicate(timeout=280)
        assert p.returncode == 0, err
        mine = parse(out)
        assert len(mine) == 500
        assert not set(mine) & set(reported), "two processes were given the same seq"
        reported.update(mine)
    rows = stored(db)
    assert sorted(rows) == list(range(1, 2001))
    assert rows == reported
    assert len(set(rows.values())) == 2000
    result = verify_path(db)
    assert result.ok and result.checked == 2000


def test_many_threads_group_commit(store: AuditStore) -> None:
    results: dict[str, AuditRecord] = {}
    lock = threading.Lock()

    def work(t: int) -> None:
        for j in range(25):
            d = make_decision(t * 100 + j, app=f"app{t % 4}")
            rec = store.append(d, source="api", dry_run=False)
            with lock:
                results[d.request_id] = rec

    threads = [threading.Thread(target=work, args=(t,)) for t in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 800
    assert sorted(r.seq for r in results.values()) == list(range(1, 801))
    rows = stored(store.path)
    assert all(rows[r.seq] == rid for rid, r in results.items())
    assert store.verify().ok
    # each returned record is exactly what was stored (hash included)
    page = store.query(AuditQuery(limit=500))
    for rec in page.records:
        assert results[rec.request_id] == rec


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_dash_nine_twenty_times(db: Path) -> None:
    rng = random.Random(20261125)
    open_store(db).close()
    reported: dict[int, str] = {}
    for round_ in range(20):
        child = subprocess.Popen(
            [PYTHON, CHILD, str(db), f"k{round_}", "0", str(rng.choice((1, 4, 16)))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # it is writing: kill it somewhere after this
        assert first, child.stderr.read() if child.stderr else ""
        time.sleep(rng.uniform(0.0, 0.3))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=60)
        assert child.returncode == -signal.SIGKILL
        reported.update(parse(first + rest))
        # The store opens, the chain verifies, every acknowledged record is there.
        open_store(db).close()
        result = verify_path(db)
        assert result.ok, result.reason
        rows = stored(db)
        missing = {s: r for s, r in reported.items() if rows.get(s) != r}
        assert not missing, f"round {round_}: acknowledged records lost or changed: {missing}"
        assert sorted(rows) == list(range(1, len(rows) + 1))
    assert len(reported) > 20
