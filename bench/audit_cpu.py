"""CPU per durable audit record on the event-loop path (B1c's floor without HTTP).

Usage: .venv/bin/python -m bench.audit_cpu [--records N] [--concurrency C] [--rounds R]
       [--loop uvloop|asyncio] [--work-us US] [--profile] [--dir DIR]

C tasks on one event loop record N decisions through `record_decision_async` into a fresh
SQLite store (WAL, synchronous=FULL), each decision re-stamped as a decision-cache hit is (the
floor's `bench/baselines/apps.py: admission_audited_app` without the HTTP around it;
`--work-us` adds the CPU the rest of a request costs, so batches form as under load). Printed
per round: process CPU (user+sys) per record (that work included), the loop thread's and the
writer thread's share (Linux: /proc), the batches the writer committed, and wall time. CPU,
not wall, is the figure: on a server pinned to one core it is what each request costs.
`--profile` adds a cProfile of each thread (its overhead inflates every figure; read it for
shares, not for microseconds).
The JSON lines go to /dev/null, as the floor's go to a log file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webhook.audit import open_store
from webhook.audit.record import record_decision_async
from webhook.audit.store import AuditStore
from webhook.contracts.decision import Decision


def floor_decision() -> Decision:
    """The decision the engine gives the bench inputs (as the floor records)."""
    from bench.payloads import TRUST_DIR, artifacts
    from webhook.pipelines import Engine, MigrationInputs

    a = artifacts()
    return Engine.load(trust_dir=TRUST_DIR).validate_migration(
        MigrationInputs(a.manifest, a.config, a.signature), request_id="floor")


def thread_cpu() -> dict[str, float]:
    """CPU seconds (user+sys) of each live thread, by name; empty where /proc is missing."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for t in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{t.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[t.name] = (int(fields[11]) + int(fields[12])) / tick
    return out


def instrument(store: AuditStore, profiles: list[cProfile.Profile] | None) -> list[int]:
    """Batch sizes the writer commits (appended to the returned list); optionally profiled."""
    writer = store._writer  # a bench probe: the store's own writer, wrapped per instance
    sizes: list[int] = []
    commit = writer._commit
    run = writer._run

    def counted(batch: list[Any]) -> None:
        sizes.append(len(batch))
        commit(batch)

    def profiled() -> None:
        prof = cProfile.Profile()
        assert profiles is not None
        profiles.append(prof)
        prof.enable()
        try:
            run()
        finally:
            prof.disable()

    writer._commit = counted  # type: ignore[method-assign]
    if profiles is not None:
        writer._run = profiled  # type: ignore[method-assign]
    return sizes


def burn(seconds: float) -> None:
    """Spend `seconds` of this thread's CPU: the rest of a request (HTTP, TLS) when modelled."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def record_all(store: AuditStore, decision: Decision, n: int, c: int, *, start: int,
                     work_s: float = 0.0) -> None:
    numbers = iter(range(start, start + n))

    async def worker() -> None:
        for i in numbers:
            if work_s:
                burn(work_s)
                await asyncio.sleep(0)  # the response is written, the next request read
            stamped = decision.model_copy(update={
                "request_id": f"{i:08x}-7c1e-4b8a-9f3d-5e2a1c0b9d8e",
                "timestamp": datetime.now(UTC).isoformat()})
            result = await record_decision_async(store, stamped, source="admission",
                                                 dry_run=False)
            if result.decision != decision.decision:
                raise SystemExit(f"record {i} failed: {result.reasons[-1].message}")

    await asyncio.gather(*(worker() for _ in range(c)))


def one_round(path: Path, decision: Decision, args: argparse.Namespace) -> str:
    store = open_store(path)
    profiles: list[cProfile.Profile] | None = [] if args.profile else None
    sizes = instrument(store, profiles)
    main_prof = cProfile.Profile() if args.profile else None

    async def go() -> tuple[float, float, dict[str, float], dict[str, float]]:
        await record_all(store, decision, 200, args.concurrency, start=0)  # writer started, warm
        sizes.clear()
        cpu0, wall0, th0 = os.times(), time.perf_counter(), thread_cpu()
        if main_prof:
            main_prof.enable()
        await record_all(store, decision, args.records, args.concurrency, start=10**6,
                         work_s=args.work_us / 1e6)
        if main_prof:
            main_prof.disable()
        cpu1, wall1, th1 = os.times(), time.perf_counter(), thread_cpu()
        cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system
        return cpu, wall1 - wall0, th0, th1

    runner: Callable[[Coroutine[Any, Any, Any]], Any] = asyncio.run
    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        cpu, wall, th0, th1 = runner(go())
    store.close()
    if not store.verify().ok:
        raise SystemExit(f"chain broken in {path}")
    n = args.records
    per = {name: (th1[name] - th0.get(name, 0.0)) / n * 1e6 for name in th1}
    threads = ", ".join(f"{name} {us:.1f}" for name, us in per.items())
    text = (f"cpu {cpu / n * 1e6:6.1f} us/record ({threads}); wall {wall / n * 1e6:6.1f} us/record"
            f"; {len(sizes)} batches, mean {sum(sizes) / max(len(sizes), 1):.1f}")
    named = [("loop thread", main_prof), *[("writer thread", p) for p in profiles or []]]
    for label, prof in named:
        if prof is not None:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
            text += f"\n--- {label} (cProfile, tottime)\n{out.getvalue()}"
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    ap.add_argument("--work-us", type=float, default=0.0,
                    help="CPU each request spends on the loop besides its record (the floor's "
                         "HTTP/TLS work, ~100 us in B1c); with it batches form as under load")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--dir", type=Path, default=None, help="where the stores go (default: tmp)")
    args = ap.parse_args()
    decision = floor_decision()
    with tempfile.TemporaryDirectory(prefix="audit-cpu-", dir=args.dir) as base:
        for r in range(args.rounds):
            print(f"round {r}: {one_round(Path(base) / f'r{r}.db', decision, args)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
