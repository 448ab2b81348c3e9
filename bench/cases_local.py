"""B4, B5, B6: integrity work measured in fresh pinned worker processes (see bench/worker.py)."""

from __future__ import annotations

from bench.config import Config
from bench.interleave import interleave
from bench.model import Result
from bench.procs import run_worker
from bench.snapshots import GIB, MIB, make_blob, make_snapshot

#: B5 runs every side on both cores: the gate overlaps hashing with inflating in a helper
#: thread by design, and the single-threaded baselines are unaffected by the second core.
BOTH_CORES = "0,1"


def _mibps(task: str, path: str, cpu: str = "1") -> float:
    r = run_worker(task, {"path": path}, cpu=cpu)
    return float(r["bytes"]) / r["seconds"] / MIB


def b4(cfg: Config) -> list[Result]:
    size = 128 * MIB if cfg.quick else GIB
    path = str(make_blob(size))
    res = Result("B4", f"snapshot SHA-256 throughput, {size // MIB} MiB file (page cache warm)",
                 "MiB/s", "ratio_min", 0.95, "hashlib.file_digest on the same file")
    s = interleave(cfg.rounds, {"gate": lambda: _mibps("hash-gate", path),
                                "base": lambda: _mibps("hash-base", path)})
    res.gate, res.baseline = s["gate"], s["base"]
    return [res]


def b5(cfg: Config) -> list[Result]:
    size = 64 * MIB if cfg.quick else 512 * MIB
    snap = make_snapshot(size, member_size=16 * MIB if cfg.quick else 64 * MIB)
    path = str(snap.path)
    sides = {"gate": lambda: _mibps("targz-gate", path, BOTH_CORES),
             "inflate": lambda: _mibps("targz-inflate", path, BOTH_CORES),
             "tarfile": lambda: _mibps("targz-tarfile", path, BOTH_CORES)}
    if not cfg.quick:
        sides["gate_1core"] = lambda: _mibps("targz-gate", path, "1")
    s = interleave(cfg.rounds, sides)
    from webhook.integrity import archive

    what = (f"tar.gz inspection (guards + per-member SHA-256 + SHA256SUMS), {size // MIB} MiB in "
            f"{snap.members} members, {snap.compressed // MIB} MiB compressed; MiB/s uncompressed; "
            f"gate inflater: {archive.GZIP_BACKEND}; both cores")
    a = Result("B5a", what, "MiB/s", "ratio_min", 0.85,
               "decompress only: the gate's inflater and buffer sizes", gate=s["gate"],
               baseline=s["inflate"])
    b = Result("B5b", what, "MiB/s", "ratio_min", 2.0,
               "stdlib tarfile r:gz iterating every member", gate=s["gate"],
               baseline=s["tarfile"])
    from webhook.integrity import archive

    for r in (a, b):
        r.extra["gzip_backend"] = archive.GZIP_BACKEND
        if "gate_1core" in s:
            r.extra["gate_one_core_mibps"] = s["gate_1core"]
    return [a, b]


def b6(cfg: Config) -> list[Result]:
    big_size = 256 * MIB if cfg.quick else 4 * GIB
    small = make_snapshot(64 * MIB, member_size=64 * MIB)
    big = make_snapshot(big_size, member_size=1 * GIB if big_size >= GIB else 256 * MIB)
    peaks: dict[str, list[float]] = {"big": [], "small": []}

    def peak(which: str, path: str) -> float:
        value = float(run_worker("verify-rss", {"path": path})["maxrss_mib"])
        peaks[which].append(value)
        return value

    interleave(cfg.rounds, {"big": lambda: peak("big", str(big.path)),
                            "small": lambda: peak("small", str(small.path))}, warmup=False)
    growth = [b - s for b, s in zip(peaks["big"], peaks["small"], strict=True)]
    res = Result("B6", f"peak RSS growth verifying (hash + inspect) a {big_size // MIB} MiB "
                 "snapshot vs a 64 MiB one (paired per round)", "MiB", "abs_max", 16.0,
                 "peak RSS of the 64 MiB run", gate=growth, baseline=peaks["small"])
    res.extra = {"peak_big_mib": peaks["big"], "peak_small_mib": peaks["small"],
                 "big_compressed_mib": big.compressed / MIB}
    return [res]
