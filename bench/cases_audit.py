"""B8: durable audit appends from 32 threads vs raw SQLite inserts of the same rows.

Both sides open SQLite through `webhook.audit.schema.connect` (identical PRAGMAs: WAL,
synchronous=FULL, so every COMMIT is an fsync) on the same file system. The baseline commits
each row on its own, which is what "durable before the caller returns" costs without batching;
the ideal batch (one COMMIT per 32 rows) is measured too and reported in the note.
"""

from __future__ import annotations

import shutil

from bench.config import Config
from bench.interleave import interleave
from bench.model import Result
from bench.procs import run_worker

THREADS = 32


def b8(cfg: Config) -> list[Result]:
    records = 200 if cfg.quick else 2000
    work = cfg.workdir / "audit"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    seed = work / "seed.db"
    run_worker("audit-gate", {"path": str(seed), "records": records, "threads": THREADS})
    counter = iter(range(10_000))

    def fresh() -> str:
        return str(work / f"r{next(counter)}.db")

    def gate() -> float:
        args = {"path": fresh(), "records": records, "threads": THREADS}
        return float(run_worker("audit-gate", args)["rate"])

    def raw(per_commit: int) -> float:
        args = {"seed": str(seed), "path": fresh(), "per_commit": per_commit}
        return float(run_worker("audit-raw", args)["rate"])

    s = interleave(cfg.rounds, {"gate": gate, "raw": lambda: raw(1),
                                "batch": lambda: raw(THREADS)}, warmup=False)
    shutil.rmtree(work, ignore_errors=True)
    res = Result("B8", f"durable audit appends, {THREADS} threads, {records} records "
                 "(WAL, synchronous=FULL)", "records/s", "ratio_min", 0.5,
                 "raw SQLite INSERT+COMMIT per row, same PRAGMAs", gate=s["gate"],
                 baseline=s["raw"])
    res.extra = {"raw_batch_32": s["batch"]}
    return [res]
