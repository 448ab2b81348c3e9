"""PostgreSQL audit store: gate appends vs raw psycopg, and admission throughput PG vs SQLite.

Usage: .venv/bin/python -m bench.pg_append [--records N] [--threads T] [--rounds R]
       [--admissions N] (`make bench-postgres`). Starts its own throwaway cluster (initdb +
pg_ctl, fsync and synchronous_commit on, so every COMMIT is durable as SQLite's FULL is).

  raw-per-row     the gate's rows, one INSERT + COMMIT per row over one psycopg connection, into
                  the same audit_log (its indexes and chain trigger): durable per caller, no
                  batching; the baseline the target is stated against
  raw-batch-T     the same rows, T per COMMIT (one executemany): ideal group commit for T callers
  raw-plain-per-row  one INSERT + COMMIT per row into a bare table (primary key only, no
                  trigger): what the schema itself costs
  gate-1          PostgresStore.append from one thread (chain lock, head read, trigger, commit;
                  the caller commits inline when the writer is idle)
  gate-1-queued   the same, every record handed to the writer thread (no inline commit)
  gate-T          PostgresStore.append from T threads at once (group commit batches them)
  admission-pg    decisions/s of one `migration-gate serve` on PostgreSQL through its admission
                  door (C concurrent calls), and admission-sqlite the same on SQLite
Rounds interleave the variants (gate and raw back to back in every round, so both see the
same machine); each ratio is taken per round and reported as its median with its spread
(min..max over the rounds), beside each variant's median rate. `--only a,b` runs a subset.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.audit_append import decisions, timed_appends
from tests.integration.conftest import EXAMPLES, TOKENS, start_gate
from tests.postgres.cluster import ADMIN, ADMIN_PW, WRITER, WRITER_PW, Cluster, find_bin
from tests.postgres.replicas import Outcome, drive
from webhook.audit import open_store
from webhook.audit.pg.conn import connect_kwargs
from webhook.audit.pg.store import install
from webhook.audit.pg.writer import PostgresWriter
from webhook.audit.target import PASSWORD_ENV, PASSWORD_FILE_ENV, PostgresTarget, parse_target
from webhook.contracts.decision import Decision

RAW_DDL = (
    "CREATE TABLE raw_log (seq BIGINT PRIMARY KEY, ts TEXT, request_id TEXT, scenario TEXT, "
    "source TEXT, decision TEXT, env TEXT, dry_run INTEGER, subject TEXT, reasons TEXT, "
    "warnings TEXT, audited TEXT, digests TEXT, policy_bundle TEXT, prev_hash TEXT, hash TEXT)"
)
RAW_INSERT = "INSERT INTO raw_log VALUES (" + ", ".join(["%s"] * 16) + ")"
SCHEMA_INSERT = "INSERT INTO audit_log VALUES (" + ", ".join(["%s"] * 16) + ")"


def fresh(cluster: Cluster) -> str:
    name = "b_" + uuid.uuid4().hex[:10]
    cluster.new_database(name)
    os.environ[PASSWORD_ENV] = ADMIN_PW
    install(cluster.url(user=ADMIN, dbname=name), writer_role=WRITER)
    os.environ[PASSWORD_ENV] = WRITER_PW
    return cluster.url(dbname=name)


def target_of(url: str) -> PostgresTarget:
    target = parse_target(url)
    assert isinstance(target, PostgresTarget)
    return target


def rows_of(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(**connect_kwargs(target_of(url))) as conn:
        return list(conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall())


def raw(
    cluster: Cluster, rows: list[tuple[Any, ...]], per_commit: int, *, plain: bool = False
) -> float:
    """The gate's own rows inserted by hand: into the same audit_log (its indexes and chain
    trigger), or with `plain` into a bare table (no index but the key, no trigger)."""
    name = "r_" + uuid.uuid4().hex[:10]
    cluster.new_database(name)
    if plain:
        with cluster.admin(dbname=name) as admin:
            admin.execute(RAW_DDL)
        insert = RAW_INSERT
    else:
        os.environ[PASSWORD_ENV] = ADMIN_PW
        install(cluster.url(user=ADMIN, dbname=name), writer_role=WRITER)
        insert = SCHEMA_INSERT
    conn = psycopg.connect(
        host="127.0.0.1", port=cluster.port, user=ADMIN, password=ADMIN_PW, dbname=name
    )
    try:
        start = time.perf_counter()
        with conn.cursor() as cur:
            for i in range(0, len(rows), per_commit):
                chunk = rows[i : i + per_commit]
                if len(chunk) == 1:
                    cur.execute(insert, chunk[0])
                else:
                    cur.executemany(insert, chunk)
                conn.commit()
        return len(rows) / (time.perf_counter() - start)
    finally:
        conn.close()


def gate(url: str, items: list[Decision], threads: int, *, inline: bool = True) -> float:
    store = open_store(url)
    writer = getattr(store, "_writer", None)
    if isinstance(writer, PostgresWriter):
        writer.inline_enabled = inline
    store.append(items[0], source="api", dry_run=False)  # connect outside the timing
    work = items[1:]
    elapsed = timed_appends(store, work, threads)
    ok = store.verify().ok
    store.close()
    if not ok:
        raise SystemExit(f"chain broken in {url}")
    return len(work) / elapsed


def admission(tmp: Path, audit_db: str, n: int, concurrency: int, password: Path) -> float:
    """Decisions/s through one serve process's admission door (after a warm-up)."""
    gate_ = start_gate(
        tmp / uuid.uuid4().hex[:8], "--audit-db", audit_db,
        "--trust-dir", str(EXAMPLES / "t1_good" / "trust"), "--reload-interval", "0",
        tokens=dict(TOKENS), env={PASSWORD_FILE_ENV: str(password)},
    )  # fmt: skip
    try:
        asyncio.run(drive(gate_, 50, Outcome(), concurrency=concurrency, prefix="warm-"))
        outcome = Outcome()
        start = time.perf_counter()
        asyncio.run(drive(gate_, n, outcome, concurrency=concurrency, prefix="b-", bad_every=4))
        elapsed = time.perf_counter() - start
        if outcome.failed or len(outcome.recorded_uids()) != n:
            raise SystemExit(f"admission run lost calls: {outcome.failed} failed")
        return n / elapsed
    finally:
        gate_.stop()


def ratio_line(top: str, bottom: str, tops: list[float], bottoms: list[float]) -> str:
    """`top / bottom`: the median of the per-round ratios, and their spread over the rounds."""
    ratios = [a / b for a, b in zip(tops, bottoms, strict=True)]
    return (
        f"{top + ' / ' + bottom:>34} = {statistics.median(ratios):.2f}x  "
        f"(rounds: {min(ratios):.2f}..{max(ratios):.2f}; "
        + " ".join(f"{r:.2f}" for r in ratios)
        + ")"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated variant names (default: all)")
    ap.add_argument("--admissions", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    binary = find_bin()
    if binary is None:
        raise SystemExit("PostgreSQL not found: run tools/postgres/install.sh")
    cluster = Cluster(binary)
    tmp = Path(tempfile.mkdtemp(prefix="pg-bench-"))
    password = tmp / "pw"
    password.write_text(WRITER_PW + "\n")
    try:
        cluster.init()
        items = decisions(args.records)
        seed = fresh(cluster)
        gate(seed, items, args.threads)
        rows = rows_of(seed)
        t = args.threads
        variants: dict[str, Callable[[], float]] = {
            "raw-per-row": lambda: raw(cluster, rows, 1),
            f"raw-batch-{t}": lambda: raw(cluster, rows, t),
            "raw-plain-per-row": lambda: raw(cluster, rows, 1, plain=True),
            "gate-1": lambda: gate(fresh(cluster), items, 1),
            "gate-1-queued": lambda: gate(fresh(cluster), items, 1, inline=False),
            f"gate-{t}": lambda: gate(fresh(cluster), items, t),
            "admission-pg": lambda: admission(
                tmp, fresh(cluster), args.admissions, args.concurrency, password
            ),
            "admission-sqlite": lambda: admission(
                tmp,
                str(tmp / f"{uuid.uuid4().hex[:8]}.db"),
                args.admissions,
                args.concurrency,
                password,
            ),
        }
        if args.only:
            wanted = args.only.split(",")
            unknown = set(wanted) - set(variants)
            if unknown:
                raise SystemExit(f"unknown variant(s): {', '.join(sorted(unknown))}")
            variants = {name: variants[name] for name in wanted}
        results: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, run in variants.items():
                results[name].append(run())
        print(
            f"PostgreSQL {binary.parent.name}, {os.cpu_count()} cores, {args.records} records, "
            f"{args.rounds} interleaved rounds, admission {args.admissions} x "
            f"{args.concurrency} concurrent"
        )
        for name, values in results.items():
            med = statistics.median(values)
            print(f"{name:>17}: {med:9.0f} /s  (min {min(values):.0f}, max {max(values):.0f})")
        for top, bottom in (
            ("gate-1", "raw-per-row"),
            ("gate-1-queued", "raw-per-row"),
            ("gate-1", "gate-1-queued"),
            ("gate-1", "raw-plain-per-row"),
            (f"gate-{t}", "raw-per-row"),
            (f"gate-{t}", f"raw-batch-{t}"),
            ("admission-pg", "admission-sqlite"),
        ):
            if top in results and bottom in results:
                print(ratio_line(top, bottom, results[top], results[bottom]))
    finally:
        cluster.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
