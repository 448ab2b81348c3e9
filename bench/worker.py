"""One measurement in a fresh process: `python -m bench.worker TASK JSON_ARGS` prints JSON.

A fresh process per sample keeps allocator state, caches and imports from leaking between A and
B, and gives an honest `ru_maxrss` for the memory benchmark. Each task times only its own work.
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024
INFLATE_IN = 64 * 1024
INFLATE_OUT = 1024 * 1024


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def hash_gate(args: dict[str, Any]) -> dict[str, Any]:
    """B4 gate: the integrity package's streaming SHA-256."""
    from webhook.integrity import hash_file

    path = Path(args["path"])
    t = time.perf_counter()
    digest = hash_file(path, "sha256")
    return {"seconds": time.perf_counter() - t, "bytes": path.stat().st_size, "digest": digest}


def hash_base(args: dict[str, Any]) -> dict[str, Any]:
    """B4 baseline: hashlib.file_digest, the stdlib's own fastest file hashing loop."""
    path = Path(args["path"])
    t = time.perf_counter()
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"seconds": time.perf_counter() - t, "bytes": path.stat().st_size, "digest": digest}


def targz_gate(args: dict[str, Any]) -> dict[str, Any]:
    """B5 gate: full inspection (guards, per-member SHA-256, SHA256SUMS, whole-file digest)."""
    from webhook.integrity import inspect_targz

    path = Path(args["path"])
    t = time.perf_counter()
    report = inspect_targz(path, file_algorithms=("sha256",))
    secs = time.perf_counter() - t
    if not report.ok or report.sums_checked == 0:
        raise SystemExit(f"inspection did not pass: {report.findings} sums={report.sums_checked}")
    return {"seconds": secs, "bytes": report.expanded_bytes, "members": report.members,
            "maxrss_mib": _maxrss_mib()}


def targz_inflate(args: dict[str, Any]) -> dict[str, Any]:
    """B5 baseline 1: decompress only, with the gate's inflater and the gate's buffer sizes.

    `archive.gzip_decompressor()` (ISA-L when the optional `isal` package is installed, else
    stdlib zlib), 1 MiB reads fed in 64 KiB slices with output capped at 1 MiB per call, like
    the gate's own inflater, so the ratio isolates what inspection adds on top of inflating
    (tar parsing, guards, SHA-256 of members and of the file).
    """
    from webhook.integrity import archive

    path = Path(args["path"])
    t = time.perf_counter()
    d = archive.gzip_decompressor()
    total = 0
    with path.open("rb", buffering=0) as fh:
        while chunk := fh.read(CHUNK):
            mv = memoryview(chunk)
            for start in range(0, len(mv), INFLATE_IN):
                data: bytes | memoryview = mv[start : start + INFLATE_IN]
                while data:
                    total += len(d.decompress(data, INFLATE_OUT))
                    data = d.unconsumed_tail
    return {"seconds": time.perf_counter() - t, "bytes": total, "backend": archive.GZIP_BACKEND}


def targz_tarfile(args: dict[str, Any]) -> dict[str, Any]:
    """B5 baseline 2: stdlib tarfile iterating every member of the r:gz stream (no hashing)."""
    path = Path(args["path"])
    t = time.perf_counter()
    total = 0
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            total += member.size
    return {"seconds": time.perf_counter() - t, "bytes": total}


def verify_rss(args: dict[str, Any]) -> dict[str, Any]:
    """B6: peak RSS of verifying one snapshot the way the gate does (hash, then inspect)."""
    from webhook.integrity import hash_file, inspect_targz

    path = Path(args["path"])
    before = _maxrss_mib()
    t = time.perf_counter()
    hash_file(path, "sha256")
    report = inspect_targz(path, file_algorithms=("sha256",))
    if not report.ok:
        raise SystemExit(f"inspection did not pass: {report.findings}")
    return {"seconds": time.perf_counter() - t, "bytes": report.expanded_bytes,
            "maxrss_mib": _maxrss_mib(), "rss_before_mib": before}


def audit_gate(args: dict[str, Any]) -> dict[str, Any]:
    """B8 gate: AuditStore.append from `threads` threads at once (bench/audit_append.py)."""
    from bench import audit_append

    path = Path(args["path"])
    rate = audit_append.gate(path, audit_append.decisions(args["records"]), args["threads"])
    return {"rate": rate}


def audit_raw(args: dict[str, Any]) -> dict[str, Any]:
    """B8 baseline: the same rows (read from a gate-written seed) as raw INSERT + COMMIT."""
    from bench import audit_append

    rows = audit_append.rows_of(Path(args["seed"]))
    rate = audit_append.raw(Path(args["path"]), rows, args["per_commit"])
    return {"rate": rate}


def engine_profile(args: dict[str, Any]) -> dict[str, Any]:
    """B1a: the engine alone on distinct bench inputs (no cache can hit), timed, then under
    cProfile (text)."""
    import cProfile
    import io
    import pstats

    from bench.payloads import TRUST_DIR, artifacts
    from webhook.pipelines import Engine, MigrationInputs

    n = int(args.get("calls", 500))
    sets = [artifacts(i) for i in range(2 * n + 50)]
    inputs = [MigrationInputs(a.manifest, a.config, a.signature) for a in sets]
    engine = Engine.load(trust_dir=TRUST_DIR)
    for i in range(50):
        engine.validate_migration(inputs[i], request_id=f"warm-{i}")
    t = time.perf_counter()
    for i in range(n):
        engine.validate_migration(inputs[50 + i], request_id=f"bench-{i}")
    per_call_us = (time.perf_counter() - t) / n * 1e6
    prof = cProfile.Profile()
    prof.enable()
    for i in range(n):
        engine.validate_migration(inputs[50 + n + i], request_id=f"prof-{i}")
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(14)
    return {"per_call_us": per_call_us, "text": out.getvalue()}


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "hash-gate": hash_gate,
    "hash-base": hash_base,
    "targz-gate": targz_gate,
    "targz-inflate": targz_inflate,
    "targz-tarfile": targz_tarfile,
    "verify-rss": verify_rss,
    "audit-gate": audit_gate,
    "engine-profile": engine_profile,
    "audit-raw": audit_raw,
}


def main() -> None:
    task, raw = sys.argv[1], sys.argv[2]
    result = TASKS[task](json.loads(raw))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
