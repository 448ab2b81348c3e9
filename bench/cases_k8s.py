"""B7: webhook latency as kube-apiserver sees it, against the same creates without the webhook.

A real etcd + kube-apiserver (tests/e2e/controlplane.py, binaries from tools/k8s/build.sh) and the
gate (pinned to core 0) as its ValidatingWebhook. Each round creates MigrationRequests in waves of
50 simultaneous POSTs, once with the webhook configuration in place and once with it removed (in
rotating order). The gate figure is p99 of the apiserver's own
`apiserver_admission_webhook_admission_duration_seconds` for the gate's webhook (delta of the
histogram over the phase); the baseline is p99 of `apiserver_request_duration_seconds` for the
same creates without the webhook. Client-side p99 of both phases is recorded too.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bench.config import Config
from bench.load import percentile
from bench.model import Result
from bench.payloads import admission_review, artifacts
from bench.procs import CACHE, LOAD_CPU, ROOT

CONCURRENCY = int(os.environ.get("MG_BENCH_B7_CONCURRENCY", "50"))  # the issue says 50
WEBHOOK = "requests.migrationgate.io"
NAMESPACE = "bench"
WEBHOOK_METRIC = "apiserver_admission_webhook_admission_duration_seconds"
WEBHOOK_SEL = {"name": WEBHOOK, "operation": "CREATE", "type": "validating"}
PLURAL = "/apis/migrationgate.io/v1alpha1/namespaces/{ns}/migrationrequests"


def _find(name: str) -> Path | None:
    env = os.environ.get(f"MG_{name.upper().replace('-', '_')}")
    if env and Path(env).is_file():
        return Path(env)
    found = sorted((CACHE / "bin").glob(f"{name}-*/{name}"))
    return found[-1] if found else None


def available() -> str | None:
    """None if B7 can run, else why not."""
    try:
        import tests.e2e.controlplane  # noqa: F401
    except ImportError as exc:
        return f"tests/e2e/controlplane.py not importable ({exc})"
    missing = [n for n in ("kube-apiserver", "etcd") if _find(n) is None]
    if missing:
        return f"{', '.join(missing)} not built (run tools/k8s/build.sh)"
    return None


class Api:
    """Tiny kube-apiserver client: admin client cert, one keep-alive connection per thread."""

    def __init__(self, url: str, ctx: ssl.SSLContext) -> None:
        self.url, self.ctx = url, ctx
        self.host, self.port = "127.0.0.1", int(url.rsplit(":", 1)[1])
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPSConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
            self._local.conn = conn
        return conn

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                try:
                    parsed = json.loads(raw) if raw else {}
                except ValueError:
                    parsed = {"text": raw.decode(errors="replace")}
                return resp.status, parsed
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def metrics(self) -> str:
        req = urllib.request.Request(self.url + "/metrics")
        with urllib.request.urlopen(req, timeout=30, context=self.ctx) as resp:
            return str(resp.read().decode())


def histogram(text: str, name: str, match: dict[str, str]) -> dict[float, float]:
    """Cumulative bucket counts {le: count} of `name`, summed over series matching `match`."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[float, float] = {}
    for fam in text_string_to_metric_families(text):
        if fam.name != name:
            continue
        for s in fam.samples:
            if s.name != name + "_bucket":
                continue
            if any(s.labels.get(k) != v for k, v in match.items()):
                continue
            le = float(s.labels["le"])
            out[le] = out.get(le, 0.0) + s.value
    return out


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """histogram_quantile over the delta of two scrapes, in ms (linear within a bucket)."""
    les = sorted(after)
    counts = [after[le] - before.get(le, 0.0) for le in les]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in zip(les, counts, strict=True):
        if c >= rank:
            if le == float("inf"):
                return prev_le * 1000
            return (prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-9)) * 1000
        prev_le, prev_c = le, c
    return None


def share_within(before: dict[float, float], after: dict[float, float], le: float) -> float:
    """Fraction of the delta's observations in buckets <= le (le must be a bucket bound)."""
    total = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    return (after.get(le, 0.0) - before.get(le, 0.0)) / total if total > 0 else float("nan")


def _crds() -> list[dict[str, Any]]:
    chart = ROOT / "charts" / "migration-gate" / "crds"
    source = chart if sorted(chart.glob("*.yaml")) else ROOT / "tests" / "e2e" / "fixtures"
    docs: list[dict[str, Any]] = []
    for path in sorted(source.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _eventually(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


class Waves:
    """CONCURRENCY long-lived client threads, each with its own kept-alive apiserver connection.

    A controller (Argo CD, Flux) keeps its connections; fresh threads per wave would add 50 TLS
    handshakes with client certificates to the apiserver's work inside every measured wave.
    """

    def __init__(self, api: Api) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.api = api
        self.pool = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="b7")

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def run(self, objs: list[dict[str, Any]]) -> list[float]:
        """POST every object at once (a barrier releases all threads together); ms per create."""
        barrier = threading.Barrier(len(objs))

        def one(obj: dict[str, Any]) -> tuple[float, str | None]:
            barrier.wait()
            t = time.perf_counter()
            status, body = self.api.call("POST", PLURAL.format(ns=NAMESPACE), obj)
            ms = (time.perf_counter() - t) * 1000
            return ms, None if status == 201 else f"{status} {str(body)[:300]}"

        results = list(self.pool.map(one, objs))
        errors = [e for _, e in results if e is not None]
        if errors:
            raise RuntimeError(f"{len(errors)} creates failed, first: {errors[0]}")
        return [ms for ms, _ in results]


@contextlib.contextmanager
def _pinned_self(cpu: str) -> Iterator[None]:
    """Client threads on the load core for the duration (the gate is on core 0)."""
    old = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(cpu)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, old)


def _pin_tree(pid: int, cpu: str) -> None:
    """Every thread of `pid` (Go starts many) onto `cpu`; best effort (no such core: no-op)."""
    if (os.cpu_count() or 1) <= int(cpu):
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), {int(cpu)})


def b7(cfg: Config) -> list[Result]:
    why = available()
    res = Result("B7", f"webhook latency seen by kube-apiserver, waves of {CONCURRENCY} "
                 "concurrent MigrationRequest creates (apiserver histogram p99)", "ms",
                 "abs_max", 25.0, "apiserver request p99 for the same creates, no webhook")
    if why is not None:
        res.note = f"Pending: {why}."
        return [res]
    from bench.cases_server import baseline_server, gate_server
    from tests.e2e.controlplane import ControlPlane, ControlPlaneBinaries
    from tests.e2e.webhookconfig import webhook_configuration

    apiserver, etcd = _find("kube-apiserver"), _find("etcd")
    assert apiserver is not None and etcd is not None
    work = cfg.workdir / "k8s"
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    waves = 1 if cfg.quick else 4
    rounds = 1 if cfg.quick else cfg.rounds  # quick: the control plane start-up is the budget
    a = artifacts()
    template = json.loads(admission_review(a, uid="x"))["request"]["object"]
    gate_p99: list[float] = []
    base_p99: list[float] = []
    canned_p99: list[float] = []
    client: dict[str, list[float]] = {"gate": [], "none": [], "canned": []}
    gate_side: list[float] = []
    within: dict[str, list[float]] = {"gate": [], "canned": []}
    pin_plane = os.environ.get("MG_BENCH_B7_PIN_PLANE", "0") == "1"
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        plane = stack.enter_context(ControlPlane(
            ControlPlaneBinaries(etcd=etcd, kube_apiserver=apiserver), work / "controlplane"))
        gate = stack.enter_context(gate_server(work / "gate"))
        # control: the bare canned-allow endpoint of B1 (same cert, same core) as the webhook
        canned = stack.enter_context(baseline_server(
            "admission", cert=gate.cert, key=gate.key, log=work / "canned.log"))
        if pin_plane:  # the apiserver is the webhook's client: it runs on the load core
            for pid in plane.pids:
                _pin_tree(pid, LOAD_CPU)
        startup = time.monotonic() - t0
        api = Api(plane.server_url, plane.client_ssl_context())
        for crd in _crds():
            status, body = api.call("POST", "/apis/apiextensions.k8s.io/v1/"
                                    "customresourcedefinitions", crd)
            if status not in (201, 409):
                raise RuntimeError(f"CRD create failed: {status} {body}")

        def established() -> bool:
            status, _ = api.call("GET", PLURAL.format(ns="default"))
            return status == 200

        _eventually(established, "CRDs served")
        api.call("POST", "/api/v1/namespaces",
                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        ca = gate.ca.read_bytes()
        configs = {"gate": webhook_configuration(gate.admission, ca),
                   "canned": webhook_configuration(canned, ca)}
        vwc_name = configs["gate"]["metadata"]["name"]
        vwc_path = ("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
                    + vwc_name)
        probe = {"apiVersion": "migrationgate.io/v1alpha1", "kind": "MigrationRequest",
                 "metadata": {"name": "bench-probe"}, "spec": {"appId": "probe"}}
        counter = iter(range(1_000_000))

        def probe_status() -> int:
            obj = dict(probe, metadata={"name": f"bench-probe-{next(counter)}"})
            status, _ = api.call("POST", PLURAL.format(ns=NAMESPACE) + "?dryRun=All", obj)
            return status

        def calls() -> float:
            return histogram(api.metrics(), WEBHOOK_METRIC, WEBHOOK_SEL).get(float("inf"), 0.0)

        def probe_calls_webhook() -> bool:
            """One dry-run create: did it go through a webhook (gate or canned)?"""
            before = calls()
            probe_status()
            return calls() > before

        def set_webhook(mode: str) -> None:
            api.call("DELETE", vwc_path)
            _eventually(lambda: not probe_calls_webhook(), "the webhook removed")
            if mode == "none":
                return
            status, body = api.call("POST", vwc_path.rsplit("/", 1)[0], configs[mode])
            if status != 201:
                raise RuntimeError(f"webhook configuration create failed: {status} {body}")
            if mode == "gate":  # the gate denies the bare probe; the canned endpoint allows it
                _eventually(lambda: probe_status() in (400, 403), "the gate webhook in effect")
            else:
                _eventually(probe_calls_webhook, "the canned webhook in effect")

        def gate_metrics() -> str:
            with urllib.request.urlopen(gate.metrics + "/metrics", timeout=30) as resp:
                return str(resp.read().decode())

        waves_pool = Waves(api)
        stack.callback(waves_pool.close)

        def wave() -> list[float]:
            objs = []
            for _ in range(CONCURRENCY):
                obj = json.loads(json.dumps(template))
                obj["metadata"] = {"name": f"bench-{next(counter)}", "namespace": NAMESPACE}
                objs.append(obj)
            with _pinned_self(LOAD_CPU):
                return waves_pool.run(objs)

        def phase(mode: str) -> None:
            set_webhook(mode)
            wave()  # unrecorded warm-up: connections to the webhook, the decision cache
            before = api.metrics()
            gate_before = gate_metrics() if mode == "gate" else ""
            times: list[float] = []
            for _ in range(waves):
                times += wave()
            after = api.metrics()
            client[mode].append(percentile(times, 99))
            if mode == "none":
                name = "apiserver_request_duration_seconds"
                sel = {"verb": "POST", "resource": "migrationrequests",
                       "group": "migrationgate.io"}
                p = quantile(histogram(before, name, sel), histogram(after, name, sel), 0.99)
                if p is None:
                    raise RuntimeError("no request samples in the apiserver metrics")
                base_p99.append(p)
                return
            hb = histogram(before, WEBHOOK_METRIC, WEBHOOK_SEL)
            ha = histogram(after, WEBHOOK_METRIC, WEBHOOK_SEL)
            within[mode].append(share_within(hb, ha, 0.025))
            p = quantile(hb, ha, 0.99)
            if p is None:
                raise RuntimeError("no webhook admission samples in the apiserver metrics")
            (gate_p99 if mode == "gate" else canned_p99).append(p)
            if mode == "gate":
                gname, gsel = "migration_gate_request_duration_seconds", {"door": "admission"}
                gp = quantile(histogram(gate_before, gname, gsel),
                              histogram(gate_metrics(), gname, gsel), 0.99)
                if gp is not None:
                    gate_side.append(gp)

        modes = ["gate", "none", "canned"]
        for r in range(rounds):
            for mode in modes[r % 3:] + modes[:r % 3]:
                phase(mode)
    res.gate, res.baseline = gate_p99, base_p99

    def med(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2] if xs else float("nan")

    res.extra = {"client_p99_ms_webhook": client["gate"], "client_p99_ms_none": client["none"],
                 "client_p99_ms_canned": client["canned"], "canned_webhook_p99_ms": canned_p99,
                 "creates_per_phase": waves * CONCURRENCY, "startup_s": round(startup, 1),
                 "gate_side_p99_ms": gate_side, "control_plane_pinned": pin_plane,
                 "share_within_25ms": within}
    where = (f"etcd and kube-apiserver pinned to core {LOAD_CPU} with the client"
             if pin_plane else "etcd and kube-apiserver unpinned")
    res.note = (f"Control: the same waves against B1's bare canned-allow endpoint (same TLS "
                f"certificate, same core) as the webhook: apiserver webhook p99 "
                f"{med(canned_p99):.1f} ms. Client-side p99 per create (median of rounds): "
                f"{med(client['gate']):.1f} ms with the gate, {med(client['canned']):.1f} ms "
                f"with the canned webhook, {med(client['none']):.1f} ms without a webhook. "
                f"Webhook calls within 25 ms: {med(within['gate']):.0%} for the gate, "
                f"{med(within['canned']):.0%} for the canned endpoint; "
                f"{waves * CONCURRENCY} creates per phase; {where}. The gate's own "
                f"request-duration p99 over the same calls (its finer 10/25/50/100 ms buckets): "
                f"{med(gate_side):.1f} ms. The apiserver webhook histogram has coarse buckets "
                "(5, 25, 100 ms...), so its p99 is interpolated inside a bucket.")
    return [res]
