"""B1, B2, B3: the gate server and its baselines under load from wrk and vegeta (or hey).

One gate process (as deployed: engine + decision cache, durable SQLite audit, dev TLS) and the
baseline servers run pinned to core 0 for the whole group; every round sends the same load to
each in rotating order from core 1. Before any load, one request to each server proves it answers
correctly (ALLOW / allowed), so a fast error path can never pass for throughput.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import load, profile
from bench.config import Config
from bench.interleave import interleave
from bench.model import Result
from bench.payloads import TRUST_DIR, write_bodies
from bench.procs import ROOT, free_port, run_worker, server

ADMISSION_PATH = "/admission/v1/validate"
API_PATH = "/api/v1/validate/migration"
B2_RATE = 300
MAX_ERROR_SHARE = 0.01


@dataclass(frozen=True)
class Gate:
    pid: int
    admission: str
    api: str
    metrics: str
    token: str
    ca: Path
    cert: Path
    key: Path


def _token_file(path: Path) -> str:
    from webhook.server.auth import hash_token

    token = "mg_bench_" + secrets.token_urlsafe(24)
    path.write_text(f"operator:{hash_token(token)}:bench\n")
    path.chmod(0o600)
    return token


#: run the gate from another source tree (a worktree of another commit, for side-by-side runs)
GATE_SRC = os.environ.get("MG_BENCH_GATE_SRC", "")


@contextlib.contextmanager
def gate_server(state: Path, env: dict[str, str] | None = None,
                src: str = GATE_SRC) -> Iterator[Gate]:
    """`migration-gate serve` pinned to the server core; `src`: the source tree it runs from
    (default: this checkout)."""
    if src:
        env = {**(env or {}), "PYTHONPATH": src}
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    token = _token_file(state / "bench-token")
    adm, api, met = free_port(), free_port(), free_port()
    exe = Path(sys.executable).with_name("migration-gate")
    entry = [str(exe)] if exe.is_file() else [sys.executable, "-m", "webhook.cli"]
    cmd = [*entry, "serve", "--state-dir", str(state), "--admission-port", str(adm),
           "--api-port", str(api), "--metrics-port", str(met), "--trust-dir", str(TRUST_DIR),
           "--audit-db", str(state / "audit.db"), "--token-file", str(state / "bench-token")]
    with server(cmd, port=met, tls=False, log=state / "server.log", env=env,
                extra_ports=[(adm, True), (api, False)]) as proc:
        _wait_ready(f"http://127.0.0.1:{met}/readyz", state / "server.log")
        tls = state / "tls"
        yield Gate(proc.pid, f"https://127.0.0.1:{adm}", f"http://127.0.0.1:{api}",
                   f"http://127.0.0.1:{met}", token, tls / "ca.crt", tls / "server.crt",
                   tls / "server.key")


@contextlib.contextmanager
def baseline_server(app: str, *, cert: Path | None, key: Path | None,
                    log: Path, audit_db: Path | None = None) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.baselines.serve", app, "--port", str(port)]
    if audit_db is not None:
        audit_db.unlink(missing_ok=True)
        cmd += ["--audit-db", str(audit_db)]
    if cert is not None and key is not None:
        cmd += ["--cert", str(cert), "--key", str(key)]
    with server(cmd, port=port, tls=cert is not None, log=log):
        yield f"{'https' if cert else 'http'}://127.0.0.1:{port}"


def _wait_ready(url: str, log: Path) -> None:
    import time

    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gate never became ready at {url}: {log.read_text()[-2000:]}")


def _post(url: str, body: bytes, ctype: str, *, ca: Path | None = None,
          token: str | None = None) -> tuple[int, dict[str, object]]:
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
    if ctx is not None:
        ctx.check_hostname = False  # the dev cert names localhost; we dial 127.0.0.1
    headers = {"Content-Type": ctype}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _check_admission(url: str, body: Path, ca: Path | None) -> None:
    data = body.read_bytes().replace(b"@@UID@@", b"bench-check")
    status, out = _post(url + ADMISSION_PATH, data, "application/json", ca=ca)
    response = out.get("response")
    if status != 200 or not isinstance(response, dict) or response.get("allowed") is not True:
        raise RuntimeError(f"{url} did not allow the bench AdmissionReview: {status} {out}")


def _check_api(url: str, body: Path, ctype: str, token: str | None) -> None:
    status, out = _post(url + API_PATH, body.read_bytes(), ctype, token=token)
    if status != 200 or out.get("decision") != "ALLOW":
        raise RuntimeError(f"{url} did not ALLOW the bench upload: {status} {out}")


def _rps(url: str, body: Path, ctype: str, seconds: float, *, errors: list[float],
         auth: str = "", mode: str = "one", repeats: list[float] | None = None) -> float:
    r = load.wrk(url, body, ctype, seconds=seconds, authorization=auth, mode=mode)
    errors.append(r.errors / max(1, r.requests))
    if repeats is not None:
        repeats.append(r.repeats / max(1, r.sent))
    return r.rps


#: (row suffix, wrk mode, label, target): the three request streams of B1 and B3
MODES = (
    ("a", "distinct", "distinct objects on every request (no cache hits: the engine's real cost)",
     0.35),
    ("b", "mix", "GitOps-like mix (1 request in 5 a new object, 4 in 5 repeat one of the 8 most "
     "recent)", 0.5),
    ("c", "one", "all repeats (one object, fresh uid per request)", 0.5),
)


def _three_rows(bid: str, cfg: Config, *, warm: bool, one: Path, many: Path, ctype: str,
                auth: str, gate_url: str, base_url: str, floor_url: str | None, distinct: int,
                what: str, base_name: str, mp_many_type: str | None = None) -> list[Result]:
    """One interleaved run over the three streams: each round loads gate and baseline with
    each stream in turn (rotating), so the three rows share their rounds' machine state."""
    errs: dict[str, list[float]] = {}
    reps: dict[str, list[float]] = {}
    sides = {}
    for suffix, mode, _label, _t in MODES:
        body = one if mode == "one" else many
        ct = ctype if mode == "one" or mp_many_type is None else mp_many_type
        for side, url in (("gate", gate_url), ("base", base_url)):
            name = f"{suffix}-{side}"
            errs[name], reps[name] = [], []
            sides[name] = (lambda url=url, body=body, ct=ct, mode=mode, name=name: _rps(
                url, body, ct, cfg.load_seconds, errors=errs[name], auth=auth, mode=mode,
                repeats=reps[name]))
    if floor_url is not None:
        errs["floor"] = []
        sides["floor"] = lambda: _rps(floor_url, one, ctype, cfg.load_seconds,
                                      errors=errs["floor"])
    s = interleave(cfg.rounds, warmup=warm, sides=sides)
    rows = []
    for suffix, mode, label, target in MODES:
        res = Result(f"{bid}{suffix}", f"{what}; {label}", "req/s", "ratio_min", target,
                     base_name, gate=s[f"{suffix}-gate"], baseline=s[f"{suffix}-base"])
        _error_note(res, {k: v for k, v in errs.items() if k.startswith(suffix)})
        share = reps[f"{suffix}-gate"]
        if mode != "one" and share:
            res.note += (f" Requests repeating one of the last 256 objects (what the decision "
                         f"cache can answer): {min(share):.0%}..{max(share):.0%} per round "
                         f"({distinct} distinct signed objects, cycled).")
        if mode == "one" and "floor" in s:
            res.extra["floor_canned_plus_audit_rps"] = s["floor"]
        rows.append(res)
    return rows


def _p99(url: str, body: Path, seconds: float, achieved: list[float],
         used: list[str]) -> float:
    r, how = load.fixed_rate(url, body, "application/json", rate=B2_RATE, seconds=seconds)
    achieved.append(r.rate)
    used.append(how)
    if r.errors:
        raise RuntimeError(f"{r.errors} failed requests at {url}")
    return r.p99_ms


def _error_note(res: Result, errs: dict[str, list[float]]) -> None:
    worst = {k: max(v) if v else 0.0 for k, v in errs.items()}
    if any(w > MAX_ERROR_SHARE for w in worst.values()):
        res.status = "error"
        res.note += f" Non-2xx/socket errors over 1% of requests: {worst}."


def run(cfg: Config, only: set[str], profile_dir: Path | None) -> list[Result]:
    wanted = [b for b in ("B1", "B2", "B3") if b in only]
    if not wanted:
        return []
    work = cfg.workdir / "server"
    bodies = write_bodies(work / "bodies")
    admission = Path(bodies["admission"])
    fixed = Path(bodies["admission_fixed"])
    mp, mp_type = Path(bodies["multipart"]), str(bodies["multipart_type"])
    many_adm, many_mp = Path(bodies["admission_many"]), Path(bodies["multipart_many"])
    many_mp_type, distinct = str(bodies["multipart_many_type"]), int(bodies["distinct"])
    secs = cfg.load_seconds
    warm = not cfg.quick  # quick: the correctness checks above are the warm-up
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        gate = stack.enter_context(gate_server(work / "state"))
        base_adm = stack.enter_context(baseline_server(
            "admission", cert=gate.cert, key=gate.key, log=work / "baseline-admission.log"))
        base_mp = stack.enter_context(baseline_server(
            "multipart", cert=None, key=None, log=work / "baseline-multipart.log"))
        floor: str | None = None
        if not cfg.quick and "B1" in wanted:
            # the canned endpoint + the durable audit record every decision needs (the floor)
            floor = stack.enter_context(baseline_server(
                "admission-audited", cert=gate.cert, key=gate.key,
                log=work / "floor-admission.log", audit_db=work / "floor-audit.db"))
            _check_admission(floor, admission, gate.ca)
        _check_admission(gate.admission, admission, gate.ca)
        _check_admission(base_adm, admission, gate.ca)
        _check_api(gate.api, mp, mp_type, gate.token)
        _check_api(base_mp, mp, mp_type, None)
        auth = f"Bearer {gate.token}"

        if "B1" in wanted:
            results += _three_rows(
                "B1", cfg, warm=warm, one=admission, many=many_adm, ctype="application/json",
                auth="", gate_url=gate.admission + ADMISSION_PATH,
                base_url=base_adm + ADMISSION_PATH,
                floor_url=floor + ADMISSION_PATH if floor else None, distinct=distinct,
                what=(f"admission throughput: MigrationRequest AdmissionReview "
                      f"({bodies['config_bytes']} B config, signed), gate as deployed (engine "
                      "+ decision cache), durable audit, TLS; wrk -t1 -c16"),
                base_name="bare Starlette+uvicorn TLS endpoint, canned allow (same cert/context)")

        if "B2" in wanted:
            got: dict[str, list[float]] = {"gate": [], "base": []}
            how: list[str] = []
            s = interleave(cfg.rounds, warmup=warm, sides={
                "gate": lambda: _p99(gate.admission + ADMISSION_PATH, fixed, secs, got["gate"],
                                     how),
                "base": lambda: _p99(base_adm + ADMISSION_PATH, fixed, secs, got["base"],
                                     how)})
            res = Result("B2", f"admission p99 latency at a fixed {B2_RATE} req/s "
                         f"({how[-1] if how else '?'})", "ms", "ratio_max", 3.0,
                         "same baseline at the same rate", gate=s["gate"], baseline=s["base"])
            res.extra = {"achieved_rate_gate": got["gate"], "achieved_rate_base": got["base"]}
            results.append(res)

        if "B3" in wanted:
            results += _three_rows(
                "B3", cfg, warm=warm, one=mp, many=many_mp, ctype=mp_type, auth=auth,
                gate_url=gate.api + API_PATH, base_url=base_mp + API_PATH, floor_url=None,
                distinct=distinct, mp_many_type=many_mp_type,
                what=("API migration validation (multipart, 3 parts, bearer token), gate as "
                      "deployed (engine + decision cache), durable audit; wrk -t1 -c16"),
                base_name="bare Starlette endpoint parsing the same multipart")

        if profile_dir is not None:
            try:
                _profile(gate, {"admission": admission, "multipart": mp, "admission_many":
                                many_adm, "multipart_many": many_mp},
                         {"one": mp_type, "many": many_mp_type}, auth, out=profile_dir,
                         secs=secs, results=results)
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                for r in results:
                    r.profile = f"profiling failed: {exc}"
    return results


def _engine_profile(results: list[Result]) -> None:
    """The engine alone (no server), cProfile'd in a pinned worker: what a cache miss costs."""
    rows = [r for r in results if r.id == "B1a"]
    if not rows:
        return
    r = run_worker("engine-profile", {"calls": 500})
    lines = [ln for ln in r["text"].splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    table = "\n".join(ln.replace("/work/main/", "").replace(str(ROOT) + "/", "")
                      for ln in lines[start:])
    rows[0].extra["engine_us_per_call"] = r["per_call_us"]
    rows[0].profile = (f"#### engine alone, cache miss path (no server; cProfile, 500 calls)\n\n"
                       f"`Engine.validate_migration` on B1a's distinct inputs: "
                       f"{r['per_call_us']:.0f} us per call without profiling."
                       f"\n\n```\n{table}\n```")


def _profile(gate: Gate, bodies: dict[str, Path], mp_types: dict[str, str], auth: str, *,
             out: Path, secs: float, results: list[Result]) -> None:
    """py-spy (GIL holder, blocking samples) on the gate while wrk loads it, per door and
    stream: distinct objects (the engine's real cost) and all repeats (the cache-hit path)."""
    out.mkdir(parents=True, exist_ok=True)
    duration = max(3.0, secs)
    adm = gate.admission + ADMISSION_PATH
    api = gate.api + API_PATH
    jobs: list[tuple[tuple[str, ...], str, str, Path, str, str, str]] = [
        (("B1a",), "admission door, distinct objects (engine on every request)", adm,
         bodies["admission_many"], "application/json", "", "distinct"),
        (("B1c", "B2"), "admission door, all repeats (decision-cache hits)", adm,
         bodies["admission"], "application/json", "", "one"),
        (("B3a",), "API door (multipart), distinct objects", api, bodies["multipart_many"],
         mp_types["many"], auth, "distinct"),
    ]
    _engine_profile(results)
    for n, (ids, label, url, body, ctype, header, mode) in enumerate(jobs):
        rows = [r for r in results if r.id in ids]
        if not rows:
            continue
        raw = out / f"{n}-{ids[0]}.pyspy-gil.txt"
        spy = profile.start(gate.pid, duration, raw, gil=True)
        r = load.wrk(url, body, ctype, seconds=duration, authorization=header, mode=mode)
        _, err = spy.communicate(timeout=duration + 60)
        what = "GIL holder only, blocking samples at 250 Hz"
        text = (profile.summarise(raw, what=what) if raw.exists()
                else f"py-spy failed: {err.decode()[-500:]}")
        block = f"#### {label}\n\nGate at {r.rps:.0f} req/s while sampled.\n\n{text}"
        for row in rows:
            if row.id == "B2":
                row.profile = "Same process and door as B1c (cache-hit path): see B1c."
            else:
                row.profile = (row.profile + "\n\n" + block).strip()
