"""B1, B2, B3: the gate server and its baselines under load from wrk and vegeta (or hey).

One gate process (as deployed: engine + decision cache, durable SQLite audit, dev TLS) and the
baseline servers run pinned to core 0 for the whole group; every round sends the same load to
each in rotating order from core 1. Before any load, one request to each server proves it answers
correctly (ALLOW / allowed), so a fast error path can never pass for throughput.
"""

from __future__ import annotations

import contextlib
import json
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
NO_CACHE = {"MIGRATION_GATE_DECISION_CACHE_TTL": "0"}


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


@contextlib.contextmanager
def gate_server(state: Path, env: dict[str, str] | None = None) -> Iterator[Gate]:
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
         auth: str = "") -> float:
    r = load.wrk(url, body, ctype, seconds=seconds, authorization=auth)
    errors.append(r.errors / max(1, r.requests))
    return r.rps


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
    secs = cfg.load_seconds
    warm = not cfg.quick  # quick: the correctness checks above are the warm-up
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        gate = stack.enter_context(gate_server(work / "state"))
        base_adm = stack.enter_context(baseline_server(
            "admission", cert=gate.cert, key=gate.key, log=work / "baseline-admission.log"))
        base_mp = stack.enter_context(baseline_server(
            "multipart", cert=None, key=None, log=work / "baseline-multipart.log"))
        cold: Gate | None = None
        floor: str | None = None
        if not cfg.quick and "B1" in wanted:
            # the same gate with its decision cache off: the engine runs for every request
            cold = stack.enter_context(gate_server(work / "state-nocache", NO_CACHE))
            _check_admission(cold.admission, admission, cold.ca)
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
            errs: dict[str, list[float]] = {"gate": [], "base": [], "cold": [], "floor": []}
            sides = {
                "gate": lambda: _rps(gate.admission + ADMISSION_PATH, admission,
                                     "application/json", secs, errors=errs["gate"]),
                "base": lambda: _rps(base_adm + ADMISSION_PATH, admission,
                                     "application/json", secs, errors=errs["base"])}
            if cold is not None:
                sides["cold"] = lambda: _rps(cold.admission + ADMISSION_PATH, admission,
                                             "application/json", secs, errors=errs["cold"])
            if floor is not None:
                sides["floor"] = lambda: _rps(floor + ADMISSION_PATH, admission,
                                              "application/json", secs, errors=errs["floor"])
            s = interleave(cfg.rounds, warmup=warm, sides=sides)
            res = Result("B1", f"admission throughput: MigrationRequest AdmissionReview "
                         f"({bodies['config_bytes']} B config, signed), gate as deployed (engine "
                         "+ decision cache), durable audit, TLS; wrk -t1 -c16", "req/s",
                         "ratio_min", 0.5,
                         "bare Starlette+uvicorn TLS endpoint, canned allow (same cert/context)",
                         gate=s["gate"], baseline=s["base"])
            _error_note(res, errs)
            if "cold" in s:
                res.extra["gate_no_decision_cache_rps"] = s["cold"]
            if "floor" in s:
                res.extra["floor_canned_plus_audit_rps"] = s["floor"]
            results.append(res)

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
            errs = {"gate": [], "base": []}
            s = interleave(cfg.rounds, warmup=warm, sides={
                "gate": lambda: _rps(gate.api + API_PATH, mp, mp_type, secs, errors=errs["gate"],
                                     auth=auth),
                "base": lambda: _rps(base_mp + API_PATH, mp, mp_type, secs, errors=errs["base"])})
            res = Result("B3", "API migration validation (multipart, 3 parts, bearer token), "
                         "gate as deployed (engine + decision cache), durable audit; "
                         "wrk -t1 -c16", "req/s", "ratio_min", 0.5,
                         "bare Starlette endpoint parsing the same multipart",
                         gate=s["gate"], baseline=s["base"])
            _error_note(res, errs)
            results.append(res)

        if profile_dir is not None:
            try:
                    _profile([gate, cold], {"admission": admission, "multipart": mp}, mp_type, auth,
                         out=profile_dir, secs=secs, results=results)
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                for r in results:
                    r.profile = f"profiling failed: {exc}"
    return results


def _engine_profile(results: list[Result]) -> None:
    """The engine alone (no server), cProfile'd in a pinned worker: what a cache miss costs."""
    rows = [r for r in results if r.id == "B1"]
    if not rows:
        return
    r = run_worker("engine-profile", {"calls": 500})
    lines = [ln for ln in r["text"].splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    table = "\n".join(ln.replace("/work/main/", "").replace(str(ROOT) + "/", "")
                      for ln in lines[start:])
    rows[0].extra["engine_us_per_call"] = r["per_call_us"]
    rows[0].profile = (f"#### engine alone, cache miss path (no server; cProfile, 500 calls)\n\n"
                       f"`Engine.validate_migration` on the B1 inputs: {r['per_call_us']:.0f} us "
                       f"per call without profiling.\n\n```\n{table}\n```")


def _profile(gates: list[Gate | None], bodies: dict[str, Path], mp_type: str, auth: str, *,
             out: Path, secs: float, results: list[Result]) -> None:
    """py-spy (GIL holder, blocking samples) on each gate while wrk loads it, per door."""
    out.mkdir(parents=True, exist_ok=True)
    duration = max(3.0, secs)
    gate, cold = gates[0], gates[1]
    assert gate is not None
    jobs: list[tuple[tuple[str, ...], str, Gate, str, Path, str, str]] = [
        (("B1", "B2"), "admission door, decision cache on (as deployed)", gate,
         gate.admission + ADMISSION_PATH, bodies["admission"], "application/json", ""),
        (("B3",), "API door (multipart), decision cache on", gate, gate.api + API_PATH,
         bodies["multipart"], mp_type, auth),
    ]
    if cold is not None:
        jobs.insert(1, (("B1",), "admission door, decision cache off (engine every request)",
                        cold, cold.admission + ADMISSION_PATH, bodies["admission"],
                        "application/json", ""))
    _engine_profile(results)
    for n, (ids, label, g, url, body, ctype, header) in enumerate(jobs):
        rows = [r for r in results if r.id in ids]
        if not rows:
            continue
        raw = out / f"{n}-{ids[0]}.pyspy-gil.txt"
        spy = profile.start(g.pid, duration, raw, gil=True)
        r = load.wrk(url, body, ctype, seconds=duration, authorization=header)
        _, err = spy.communicate(timeout=duration + 60)
        what = "GIL holder only, blocking samples at 250 Hz"
        text = (profile.summarise(raw, what=what) if raw.exists()
                else f"py-spy failed: {err.decode()[-500:]}")
        block = f"#### {label}\n\nGate at {r.rps:.0f} req/s while sampled.\n\n{text}"
        for row in rows:
            if row.id == "B2":
                row.profile = "Same process and door as B1 with the cache on: see B1."
            else:
                row.profile = (row.profile + "\n\n" + block).strip()
