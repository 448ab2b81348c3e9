"""Subprocesses pinned to a core: workers that measure themselves, and servers under load.

The server side always runs on core 0 and the load generator (or a measuring worker) on core 1,
so the two never fight for one core inside a benchmark; other load on the machine hits A and B
alike because A and B alternate.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MIGRATION_GATE_CACHE", Path.home() / ".cache" / "migration-gate"))
BENCH_CACHE = CACHE / "bench"
SERVER_CPU = "0"
LOAD_CPU = "1"


def pinned(cmd: Sequence[str], cpu: str) -> list[str]:
    """`taskset -c cpu cmd...` when taskset exists and the machine has that core."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > int(cpu.split(",", maxsplit=1)[0]):
        return ["taskset", "-c", cpu, *cmd]
    return list(cmd)


def run_worker(task: str, args: Mapping[str, Any], *, cpu: str = LOAD_CPU,
               timeout: float = 900) -> dict[str, Any]:
    """Run `python -m bench.worker` in a fresh pinned process; it prints one JSON object."""
    cmd = pinned([sys.executable, "-m", "bench.worker", task, json.dumps(dict(args))], cpu)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {task} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    line = proc.stdout.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(line)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[bytes], *, tls: bool, timeout: float = 60,
              log: Path | None = None) -> None:
    """Until a TCP (and TLS, if asked) handshake succeeds on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode} before listening: {tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if tls:
                    with ctx.wrap_socket(sock, server_hostname="localhost"):
                        pass
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def server(cmd: Sequence[str], *, port: int, tls: bool, log: Path,
           env: Mapping[str, str] | None = None, timeout: float = 60,
           extra_ports: Sequence[tuple[int, bool]] = ()) -> Iterator[subprocess.Popen[bytes]]:
    """A server process pinned to the server core, stopped with SIGTERM (then SIGKILL)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(pinned(list(cmd), SERVER_CPU), cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
        try:
            wait_port(port, proc, tls=tls, timeout=timeout, log=log)
            for p, p_tls in extra_ports:
                wait_port(p, proc, tls=p_tls, timeout=timeout, log=log)
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
