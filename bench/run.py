"""`python -m bench.run [--quick] [--only B1,B4]`: run the benchmarks, print and record the table.

Full runs rewrite BENCHMARKS.md and bench/results.json (rows not selected by --only are kept from
the previous run, with their own date); --quick runs a reduced version of each, prints the same
table and writes bench/results-quick.json. The exit status is 0 only if every selected benchmark
met its target in most rounds (info rows have none): a pending or failed row is not a pass.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import (
    cases_audit,
    cases_k8s,
    cases_local,
    cases_server,
    machine,
    peers,
    profile,
    report,
    startup,
)
from bench.config import Config
from bench.model import Result, TargetKind
from bench.procs import ROOT

ALL = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11"]
#: comparisons without a target: reported by full runs, left out of --quick unless asked for
QUICK_SKIP = ("B9", "B10")
METHOD = ROOT / "bench" / "method.md"
ANALYSIS = ROOT / "bench" / "analysis.md"

#: what each row is, for rows whose benchmark crashed before producing a Result
SPECS: dict[str, tuple[str, str, TargetKind, float, str]] = {
    "B1a": ("admission throughput, distinct objects", "req/s", "ratio_min", 0.35,
            "bare Starlette TLS endpoint"),
    "B1b": ("admission throughput, GitOps-like mix", "req/s", "ratio_min", 0.5,
            "bare Starlette TLS endpoint"),
    "B1c": ("admission throughput, all repeats", "req/s", "ratio_min", 0.5,
            "bare Starlette TLS endpoint"),
    "B2": ("admission p99 at 300 req/s", "ms", "ratio_max", 3.0, "same baseline, same rate"),
    "B3a": ("API multipart validation throughput, distinct objects", "req/s", "ratio_min", 0.35,
            "bare Starlette multipart endpoint"),
    "B3b": ("API multipart validation throughput, GitOps-like mix", "req/s", "ratio_min", 0.5,
            "bare Starlette multipart endpoint"),
    "B3c": ("API multipart validation throughput, all repeats", "req/s", "ratio_min", 0.5,
            "bare Starlette multipart endpoint"),
    "B4": ("snapshot SHA-256 throughput", "MiB/s", "ratio_min", 0.95, "hashlib.file_digest"),
    "B5a": ("tar.gz inspection", "MiB/s", "ratio_min", 0.85, "decompress only"),
    "B5b": ("tar.gz inspection", "MiB/s", "ratio_min", 2.0, "stdlib tarfile iteration"),
    "B6": ("peak RSS growth, 4 GiB vs 64 MiB snapshot", "MiB", "abs_max", 16.0, "—"),
    "B7a": ("webhook p50 seen by kube-apiserver, wave within the pool", "ms", "ratio_max", 1.15,
            "canned webhook, same waves"),
    "B7b": ("webhook p99 seen by kube-apiserver, wave within the pool", "ms", "ratio_max", 1.15,
            "canned webhook, same waves"),
    "B7c": ("webhook p50 seen by kube-apiserver, wave beyond the pool", "ms", "ratio_max", 1.15,
            "canned webhook, same waves"),
    "B7d": ("webhook p99 seen by kube-apiserver, wave beyond the pool", "ms", "ratio_max", 1.15,
            "canned webhook, same waves"),
    "B9a": ("create p50, gate vs ValidatingAdmissionPolicy", "ms", "info", 0.0, "VAP"),
    "B9b": ("create p99, gate vs ValidatingAdmissionPolicy", "ms", "info", 0.0, "VAP"),
    "B10a": ("validate throughput vs conftest", "files/s", "info", 0.0, "conftest"),
    "B10b": ("validate throughput vs gator", "files/s", "info", 0.0, "gator"),
    "B10c": ("validate throughput vs kyverno", "files/s", "info", 0.0, "kyverno"),
    "B11": ("CLI start-up, validate t1_good", "ms", "ratio_max", 0.5, "today's release"),
    "B8": ("durable audit appends, 32 threads", "records/s", "ratio_min", 0.5,
           "raw SQLite per-row commit"),
}
ROW_IDS = {"B1": ["B1a", "B1b", "B1c"], "B3": ["B3a", "B3b", "B3c"], "B5": ["B5a", "B5b"],
           "B7": ["B7a", "B7b", "B7c", "B7d"], "B9": ["B9a", "B9b"],
           "B10": ["B10a", "B10b", "B10c"]}


def _placeholder(bid: str, status: str, note: str) -> list[Result]:
    out = []
    for rid in ROW_IDS.get(bid, [bid]):
        what, unit, kind, target, base = SPECS[rid]
        r = Result(rid, what, unit, kind, target, base, note=note)
        r.status = "error" if status == "error" else "pending"
        out.append(r)
    return out


def _guard(ids: list[str], fn: Callable[[], list[Result]]) -> list[Result]:
    """Run one benchmark group; a crash becomes ERROR rows with the reason, never a lost row."""
    t = time.monotonic()
    try:
        rows = fn()
    except Exception as exc:
        traceback.print_exc()
        return [x for b in ids for x in _placeholder(b, "error", f"benchmark failed: {exc}")]
    print(f"  {'/'.join(ids)} done in {time.monotonic() - t:.0f}s", file=sys.stderr)
    return rows


def _explain(rows: list[Result]) -> None:
    """Data-driven notes: ceilings implied by the baselines themselves."""
    by_id = {r.id: r for r in rows}
    a, b = by_id.get("B5a"), by_id.get("B5b")
    if a and b and a.ratio and b.ratio:
        ceiling = b.ratio / a.ratio  # inflate-only / tarfile
        backend = b.extra.get("gzip_backend", "?")
        b.note += (f" Inflating alone with the gate's inflater ({backend}) runs at {ceiling:.2f}x "
                   "tarfile iteration in this run: the ceiling for any inspector built on it.")
        one = b.extra.get("gate_one_core_mibps")
        if one and b.baseline:
            from bench.model import Summary as _S

            med, base = _S.of(one), _S.of(b.baseline)
            if med and base:
                b.note += (f" Gate pinned to one core: {med.median:.0f} MiB/s = "
                           f"{med.median / base.median:.2f}x tarfile.")
    b1 = by_id.get("B1c")
    if b1 and b1.baseline:
        from bench.model import Summary as _S1

        base = _S1.of(b1.baseline)
        floor = _S1.of(b1.extra.get("floor_canned_plus_audit_rps") or [])
        if floor and base:
            b1.note += (f" Floor: the baseline's own Starlette endpoint plus only the durable "
                        f"audit record of the same decision (the gate's store and record code, "
                        f"re-stamped as a cache hit is) ran at {floor.median:.0f} req/s "
                        f"({floor.min:.0f}..{floor.max:.0f}) = {floor.median / base.median:.2f}x "
                        "baseline: the price of auditing every decision before answering, "
                        "before any policy work.")
    b8 = by_id.get("B8")
    if b8 and b8.extra.get("raw_batch_32") and b8.gate:
        from bench.model import Summary

        batch = Summary.of(b8.extra["raw_batch_32"])
        g = Summary.of(b8.gate)
        if batch and g:
            b8.note += (f" Ideal batching (raw SQLite, one COMMIT per 32 rows): "
                        f"{batch.median:.0f} records/s; the gate reaches "
                        f"{g.median / batch.median:.2f}x of that.")


def _profile_failures(rows: list[Result], cfg: Config, out: Path) -> None:
    """py-spy the gate side of any failed local benchmark (server rows are profiled live)."""
    import sys as _sys

    tasks = {"B4": "hash-gate", "B5a": "targz-gate", "B5b": "targz-gate"}
    done: dict[str, str] = {}
    for r in rows:
        task = tasks.get(r.id)
        if r.status != "fail" or task is None or r.profile:
            continue
        if task not in done:
            from bench.snapshots import GIB, MIB, make_blob, make_snapshot

            if task == "hash-gate":
                path = make_blob(128 * MIB if cfg.quick else GIB).as_posix()
            else:
                size = 64 * MIB if cfg.quick else 512 * MIB
                path = make_snapshot(size, member_size=16 * MIB if cfg.quick else 64 * MIB
                                     ).path.as_posix()
            out.mkdir(parents=True, exist_ok=True)
            cmd = [_sys.executable, "-m", "bench.worker", task, json.dumps({"path": path})]
            done[task] = profile.record_command(cmd, out / f"{task}.pyspy.txt")
        r.profile = done[task]


def _method_text() -> str:
    method = METHOD.read_text() if METHOD.exists() else ""
    if ANALYSIS.exists():
        method += "\n\n" + ANALYSIS.read_text()
    return method


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="reduced sizes, 3 rounds (~2 min)")
    ap.add_argument("--only", default="", help="comma-separated ids, e.g. B1,B4 (default: all; "
                    f"--quick: all but {', '.join(QUICK_SKIP)}, which have no target)")
    ap.add_argument("--rounds", type=int, default=None, help="override rounds (>= 5 for full)")
    ap.add_argument("--no-profile", action="store_true", help="skip py-spy profiles")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite BENCHMARKS.md from bench/results.json (no measuring)")
    args = ap.parse_args(argv)
    if args.render:
        rows = list(report.load_previous().values())
        rows = report.merged({}, rows)
        report.write_markdown(rows, _method_text())
        print(report.table(rows))
        return 0 if rows and all(r.status in ("pass", "info") for r in rows) else 1
    chosen = args.only or ",".join(b for b in ALL if not (args.quick and b in QUICK_SKIP))
    only = {x.strip().upper() for x in chosen.split(",") if x.strip()}
    unknown = only - set(ALL)
    if unknown:
        ap.error(f"unknown benchmark ids: {sorted(unknown)}")
    cfg = Config.make(args.quick, args.rounds)
    info = machine.info()
    started = time.monotonic()
    print(f"bench: {'quick' if cfg.quick else 'full'} run, {cfg.rounds} rounds, "
          f"{machine.short(info)}, load {info['loadavg_at_start']}", file=sys.stderr)
    profile_dir = None if (cfg.quick or args.no_profile) else cfg.workdir / "profiles"

    rows: list[Result] = []
    if only & {"B1", "B2", "B3"}:
        ids = sorted(only & {"B1", "B2", "B3"})
        rows += _guard(ids, lambda: cases_server.run(cfg, only, profile_dir))
    local: dict[str, Callable[[Config], list[Result]]] = {
        "B4": cases_local.b4, "B5": cases_local.b5, "B6": cases_local.b6,
        "B8": cases_audit.b8,
    }
    for bid, fn in local.items():
        if bid in only:
            rows += _guard([bid], lambda fn=fn: fn(cfg))  # type: ignore[misc]
    if "B10" in only:
        rows += _guard(["B10"], lambda: peers.b10(cfg))
    if "B11" in only:
        rows += _guard(["B11"], lambda: startup.b11(cfg))
    if only & {"B7", "B9"}:
        ids = sorted(only & {"B7", "B9"})
        rows += _guard(ids, lambda: cases_k8s.k8s(cfg, only))
    short = machine.short(info)
    for r in rows:
        r.decide()
        r.machine, r.date, r.mode = short, info["date"], "quick" if cfg.quick else "full"
    _explain(rows)
    if not args.no_profile:
        _profile_failures(rows, cfg, cfg.workdir / "profiles")

    meta = {**info, "mode": "quick" if cfg.quick else "full", "rounds": cfg.rounds,
            "seconds": round(time.monotonic() - started, 1)}
    if cfg.quick:
        report.write_json(rows, meta, ROOT / "bench" / "results-quick.json")
        table_rows = rows
    else:
        table_rows = report.merged(report.load_previous(), rows)
        report.write_json(table_rows, meta)
        report.write_markdown(table_rows, _method_text())
    print(report.table(table_rows))
    print(report.console(rows), file=sys.stderr)
    print(f"bench: {meta['seconds']}s", file=sys.stderr)
    return 0 if rows and all(r.status in ("pass", "info") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
