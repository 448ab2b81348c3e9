"""Load generators, always in a separate process pinned to the load core.

Throughput: `wrk` (closed loop, fixed connections) with a Lua script that POSTs a body file.
Latency at a fixed rate: `vegeta attack` (built from its Go module by bench/bin/install-tools.sh)
is open-loop with evenly spaced sends, so a slow response never delays the next request and the
arrivals are not bursty. `hey -q` (Debian package) is the fallback: its per-worker tickers fire
together, so it sends bursts of `workers` requests, which inflates p99 on both sides.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.procs import CACHE, LOAD_CPU, ROOT, pinned

LUA = ROOT / "bench" / "lua" / "post.lua"


def tool(name: str) -> str:
    """Path of a tool: the cached build first, then the venv's bin, then PATH."""
    for candidate in (CACHE / "bin" / name, Path(sys.executable).parent / name):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: run bench/bin/install-tools.sh")
    return found


@dataclass(frozen=True)
class WrkResult:
    rps: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    #: requests that repeated an object already sent (post.lua's schedule), and all sent
    repeats: int = 0
    sent: int = 0


def wrk(url: str, body: Path, content_type: str, *, seconds: float, connections: int = 16,
        authorization: str = "", mode: str = "one", new_every: int = 5,
        window: int = 8) -> WrkResult:
    """`mode`: one (BODY repeated), distinct or mix over a many-bodies file (post.lua)."""
    cmd = [tool("wrk"), "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--timeout", "10s", "-s", str(LUA), url, "--", str(body), content_type, authorization,
           mode, str(new_every), str(window)]
    proc = subprocess.run(pinned(cmd, LOAD_CPU), capture_output=True, text=True, check=False,
                          timeout=seconds + 60)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{"requests"')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-800:]}{proc.stderr}")
    d = json.loads(lines[-1])
    errors = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
    return WrkResult(rps=d["requests"] / (d["duration_us"] / 1e6), requests=d["requests"],
                     errors=errors, p50_ms=d["p50_us"] / 1000, p99_ms=d["p99_us"] / 1000,
                     repeats=int(d.get("repeats", 0)), sent=int(d.get("sent", 0)))


@dataclass(frozen=True)
class RateResult:
    rate: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a latency that happened)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def fixed_rate(url: str, body: Path, content_type: str, *, rate: int,
               seconds: float) -> tuple[RateResult, str]:
    """Latency at `rate` req/s with the best available tool: (result, tool description)."""
    try:
        vegeta = tool("vegeta")
    except RuntimeError:
        return (hey_rate(url, body, content_type, rate=rate, seconds=seconds),
                f"hey -c 10 -q {rate // 10}")
    return vegeta_rate(vegeta, url, body, content_type, rate=rate, seconds=seconds), (
        f"vegeta attack -rate={rate}/s (open loop)")


def vegeta_rate(vegeta: str, url: str, body: Path, content_type: str, *, rate: int,
                seconds: float) -> RateResult:
    out = CACHE / "bench" / "vegeta.bin"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [vegeta, "attack", f"-rate={rate}/s", f"-duration={max(1, round(seconds))}s",
           "-insecure", f"-body={body}", "-header", f"Content-Type: {content_type}",
           "-timeout=10s", f"-output={out}"]
    proc = subprocess.run(pinned(cmd, LOAD_CPU), input=f"POST {url}\n", capture_output=True,
                          text=True, check=False, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"vegeta attack failed ({proc.returncode}): {proc.stderr[-800:]}")
    rep = subprocess.run([vegeta, "report", "-type=json", str(out)], capture_output=True,
                         text=True, check=True, timeout=60)
    d = json.loads(rep.stdout)
    codes = d.get("status_codes", {})
    ok = int(codes.get("200", 0))
    lat = d["latencies"]
    return RateResult(rate=float(d["rate"]), requests=int(d["requests"]),
                      errors=int(d["requests"]) - ok, p50_ms=lat["50th"] / 1e6,
                      p99_ms=lat["99th"] / 1e6, max_ms=lat["max"] / 1e6)


def hey_rate(url: str, body: Path, content_type: str, *, rate: int, seconds: float,
             workers: int = 10, authorization: str = "") -> RateResult:
    """`rate` req/s in total from `workers` workers (hey's -q is per worker)."""
    per_worker = max(1, rate // workers)
    cmd = [tool("hey"), "-z", f"{max(1, round(seconds))}s", "-c", str(workers), "-q",
           str(per_worker), "-m", "POST", "-T", content_type, "-D", str(body), "-o", "csv",
           "-disable-compression", "-t", "10", "-cpus", "1"]
    if authorization:
        cmd += ["-H", f"Authorization: {authorization}"]
    cmd.append(url)
    proc = subprocess.run(pinned(cmd, LOAD_CPU), capture_output=True, text=True, check=False,
                          timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"hey failed ({proc.returncode}): {proc.stderr[-800:]}")
    times: list[float] = []
    errors = 0
    last_offset = 0.0
    for row in csv.DictReader(io.StringIO(proc.stdout)):
        if row.get("status-code") != "200":
            errors += 1
            continue
        times.append(float(row["response-time"]) * 1000)
        last_offset = max(last_offset, float(row["offset"]))
    if not times:
        raise RuntimeError(f"hey got no successful responses: {proc.stdout[:500]}")
    return RateResult(rate=len(times) / max(last_offset, 1e-9), requests=len(times),
                      errors=errors, p50_ms=percentile(times, 50), p99_ms=percentile(times, 99),
                      max_ms=max(times))
