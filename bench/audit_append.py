"""B8 quick look: durable audit appends vs raw SQLite inserts of the same rows, same durability.

Usage: .venv/bin/python -m bench.audit_append [--records N] [--threads T] [--rounds R] [--dir DIR]
(`make bench-audit`). bench/worker.py reuses decisions(), gate(), rows_of() and raw() for B8.

Every variant writes to a fresh file in WAL mode with synchronous=FULL (every COMMIT fsyncs).
  raw-per-row   one INSERT + COMMIT per row (what "each caller durable before it returns" costs
                without batching)
  raw-batch-T   the same rows, T rows per COMMIT (the ideal group commit for T callers)
  gate-1        AuditStore.append from one thread (one record per transaction)
  gate-T        AuditStore.append from T threads at once (group commit batches them)
Rounds interleave the variants; the median (min..max) rate in records/s is printed, and the
ratios B8 cares about: gate-T / raw-per-row and gate-T / raw-batch-T.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from webhook.audit import open_store
from webhook.audit.schema import connect
from webhook.audit.store import AuditStore
from webhook.contracts.decision import Decision, Reason

RAW_DDL = (
    "CREATE TABLE audit_log (seq INTEGER PRIMARY KEY, ts TEXT, request_id TEXT, scenario TEXT, "
    "source TEXT, decision TEXT, env TEXT, dry_run INTEGER, subject TEXT, reasons TEXT, "
    "warnings TEXT, audited TEXT, digests TEXT, policy_bundle TEXT, prev_hash TEXT, hash TEXT)"
)
INSERT = "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def decisions(n: int) -> list[Decision]:
    """A realistic mix: 3 in 4 ALLOW, 1 in 4 BLOCK with one policy reason, 20 apps, two envs."""
    out = []
    for i in range(n):
        block = i % 4 == 0
        reasons = (
            (
                Reason(
                    policy="tls-required",
                    severity="high",
                    field="tls.enabled",
                    message="prod requires tls.enabled: true (found false)",
                    file="app-config.yaml",
                ),
            )
            if block
            else ()
        )
        out.append(
            Decision(
                request_id=f"req-{i:08d}",
                timestamp="2026-01-01T00:00:00Z",
                scenario="T1",
                decision="BLOCK" if block else "ALLOW",
                reasons=reasons,
                subject={
                    "app_id": f"app{i % 20}",
                    "env": "prod" if i % 3 else "staging",
                    "version": "4.2.0",
                },
                digests={"app-config.yaml": "sha256:" + "ab" * 32},
                policy_bundle="sha256:" + "cd" * 32,
            )
        )
    return out


def rows_of(store_path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(store_path)
    try:
        return conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
    finally:
        conn.close()


def raw(path: Path, rows: list[tuple[object, ...]], per_commit: int) -> float:
    conn = connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(RAW_DDL)
    start = time.perf_counter()
    for i in range(0, len(rows), per_commit):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, rows[i : i + per_commit])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


def timed_appends(store: AuditStore, work: list[Decision], threads: int) -> float:
    """Seconds for `threads` threads, released together, to append `work` (split between them)."""
    chunks = [work[t::threads] for t in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def run(chunk: list[Decision]) -> None:
        barrier.wait()
        for d in chunk:
            store.append(d, source="api", dry_run=False)

    workers = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    return elapsed


def gate(path: Path, items: list[Decision], threads: int) -> float:
    store: AuditStore = open_store(path)
    store.append(items[0], source="api", dry_run=False)  # start the writer outside the timing
    work = items[1:]
    elapsed = timed_appends(store, work, threads)
    store.close()
    if not store.verify().ok:
        raise SystemExit(f"chain broken after {path}")
    return len(work) / elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--dir", type=Path, default=None, help="where the files go (default: a tmp dir)"
    )
    args = ap.parse_args()
    items = decisions(args.records)
    base = Path(tempfile.mkdtemp(prefix="audit-bench-", dir=args.dir))
    seed = base / "seed.db"
    gate(seed, items, args.threads)
    rows = rows_of(seed)
    t = args.threads
    variants: dict[str, Callable[[Path], float]] = {
        "raw-per-row": lambda p: raw(p, rows, 1),
        f"raw-batch-{t}": lambda p: raw(p, rows, t),
        "gate-1": lambda p: gate(p, items, 1),
        f"gate-{t}": lambda p: gate(p, items, t),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(args.rounds):
        for name, run in variants.items():
            results[name].append(run(base / f"{name}-{r}.db"))
    med = {name: statistics.median(v) for name, v in results.items()}
    for name, values in results.items():
        print(f"{name:>14}: {med[name]:9.0f} rec/s  (min {min(values):.0f}, max {max(values):.0f})")
    print(f"B8 gate-{t} / raw-per-row  = {med[f'gate-{t}'] / med['raw-per-row']:.2f}x")
    print(f"   gate-{t} / raw-batch-{t} = {med[f'gate-{t}'] / med[f'raw-batch-{t}']:.2f}x")
    if args.dir is None:
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"   files in {base}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
