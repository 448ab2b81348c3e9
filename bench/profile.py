"""py-spy sampling of a server under load, summarised as text for BENCHMARKS.md.

py-spy attaches to the running server process (no code change, no restart) and writes collapsed
stacks; the summary lists where samples land: self time by function, and inclusive time of the
gate's own functions, so a reader sees at once whether TLS, HTTP parsing, the engine, YAML, the
audit fsync or the event loop dominates.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

from bench.load import tool
from bench.procs import LOAD_CPU, pinned

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def start(pid: int, seconds: float, out: Path, *, gil: bool = False,
          rate: int = 250) -> subprocess.Popen[bytes]:
    """Begin sampling `pid` for `seconds`: all non-idle threads, or (gil) only the GIL holder,
    which on a server pinned to one core is where the Python CPU time goes."""
    cmd = [tool("py-spy"), "record", "-p", str(pid), "-d", str(max(1, round(seconds))),
           "-r", str(rate), "-f", "raw", "-o", str(out)]
    if gil:
        cmd.append("--gil")
    return subprocess.Popen(pinned(cmd, LOAD_CPU), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _short(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("/site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def summarise(raw: Path, top: int = 12, what: str = "all threads, idle excluded") -> str:
    """Markdown: total samples, top self-time functions, top inclusive gate (webhook/) frames."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        if not frames:
            continue
        self_time[_short(frames[-1])] += n
        for f in {_short(f) for f in frames if "webhook/" in f}:
            inclusive[f] += n
    if not total:
        return "(no samples)"
    out = [f"{total} samples ({what}).", "",
           "| self % | function |", "|---:|---|"]
    out += [f"| {100 * n / total:.1f} | `{f}` |" for f, n in self_time.most_common(top)]
    out += ["", "| incl. % | gate function |", "|---:|---|"]
    out += [f"| {100 * n / total:.1f} | `{f}` |" for f, n in inclusive.most_common(top)]
    return "\n".join(out)


def record_command(cmd: list[str], out: Path, rate: int = 500) -> str:
    """Run `cmd` under py-spy (pinned to the load core) and return the text summary."""
    spy = [tool("py-spy"), "record", "-r", str(rate), "-f", "raw", "-o", str(out), "--", *cmd]
    proc = subprocess.run(pinned(spy, LOAD_CPU), capture_output=True, text=True, check=False,
                          timeout=900)
    if proc.returncode != 0 or not out.exists():
        return f"py-spy failed ({proc.returncode}): {proc.stderr[-500:]}"
    return summarise(out)
