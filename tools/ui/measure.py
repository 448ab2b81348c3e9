"""Page weight and server time per UI page, p50/p99 under a small load (not a test).

Starts a real `migration-gate serve` on loopback with a fresh state dir, fills its audit log
with decisions through the API, signs in through the form, then requests every page from a few
concurrent clients and prints one line per page: HTML bytes, p50 and p99 in ms.

    .venv/bin/python tools/ui/measure.py [--decisions 300] [--requests 200] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"
PAGES = ("/ui/", "/ui/migration", "/ui/replication", "/ui/audit", "/ui/audit?decision=BLOCK",
         "/ui/audit?policy=no-root", "/ui/audit/1", "/ui/alerts", "/ui/login")  # fmt: skip


def start(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    err = state / "stderr"
    cmd = [sys.executable, "-m", "webhook.cli", "serve", "--state-dir", str(state),
           "--admission-port", "0", "--api-port", "0", "--metrics-port", "0",
           "--trust-dir", str(EX / "t1_good" / "trust"), "--log-level", "warning"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATION_GATE_")}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        cmd, cwd=ROOT, stderr=err.open("wb"), stdout=subprocess.DEVNULL,
                            env={**env, "PYTHONPATH": str(ROOT)}, )  # fmt: skip
    for _ in range(600):
        m = re.search(r"API       : (http\S+)/api/v1/", err.read_text())
        if m:
            return proc, m.group(1)
        time.sleep(0.05)
    raise SystemExit("gate did not start:\n" + err.read_text())


def files(folder: Path) -> list[tuple[str, tuple[str, bytes]]]:
    names = ("migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json")
    return [(n, (n, (folder / n).read_bytes())) for n in names if (folder / n).exists()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=300)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        proc, base = start(state)
        try:
            token = (state / "operator-token.txt").read_text().strip()
            folders = [EX / n for n in ("t1_good", "t1_bad_privileged", "t1_bad_public_port")]
            with httpx.Client(base_url=base, timeout=30) as c:
                for i in range(args.decisions):
                    c.post("/api/v1/validate/migration", files=files(folders[i % 3]),
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            cookies = login(base, token)
            css = len(httpx.get(base + "/ui/static/ui.css").content)
            out = {}
            for path in PAGES:
                jar = None if path == "/ui/login" else cookies  # signed in, login redirects
                out[path] = load(base, path, jar, args.requests, args.clients)
            print(f"stylesheet: {css} bytes (cached 1 h); decisions in the store: {args.decisions}")
            print(f"{'page':32} {'HTML bytes':>10} {'p50 ms':>8} {'p99 ms':>8}")
            for path, (size, p50, p99) in out.items():
                print(f"{path:32} {size:>10} {p50:>8.1f} {p99:>8.1f}")
            print(json.dumps({p: {"bytes": s, "p50_ms": round(a, 2), "p99_ms": round(b, 2)}
                              for p, (s, a, b) in out.items()}))  # fmt: skip
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def login(base: str, token: str) -> httpx.Cookies:
    with httpx.Client(base_url=base) as c:
        form = c.get("/ui/login")
        nonce = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert nonce
        r = c.post("/ui/login", data={"token": token, "csrf_token": nonce.group(1)})
        assert r.status_code == 303, r.text
        return c.cookies


def load(
    base: str, path: str, cookies: httpx.Cookies, n: int, clients: int
) -> tuple[int, float, float]:
    times: list[float] = []
    sizes: list[int] = []
    lock = threading.Lock()

    def worker(count: int) -> None:
        with httpx.Client(base_url=base, cookies=cookies, timeout=30) as c:
            c.get(path)  # warm the connection
            for _ in range(count):
                t0 = time.perf_counter()
                r = c.get(path)
                dt = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, (path, r.status_code)
                with lock:
                    times.append(dt)
                    sizes.append(len(r.content))

    threads = [threading.Thread(target=worker, args=(n // clients,)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return max(sizes), statistics.median(times), p99


if __name__ == "__main__":
    main()
