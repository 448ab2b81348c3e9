"""B7 and B9: the gate behind a real kube-apiserver, against a canned webhook and against CEL.

One real etcd + kube-apiserver (tests/e2e/controlplane.py, binaries from tools/k8s/build.sh), the
gate (pinned to core 0) and B1's bare canned-allow endpoint (same certificate, same core).

B7: the gate's webhook latency as the apiserver sees it (`apiserver_admission_webhook_admission_
duration_seconds`, delta over a phase) vs the canned endpoint's, in the same rounds, p50 and p99,
at a wave within the apiserver's webhook connection pool (25 idle connections per host) and one
beyond it.

B9: the same distinct signed MigrationRequest creates with (a) no admission, (b) a
ValidatingAdmissionPolicy enforcing in CEL what CEL can express of the gate's rules on the CRD's
fields (`bench/vap.py`), (c) the gate; client-side p50/p99 per create, (c)/(b).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import ssl
import statistics
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

#: B7's two wave sizes: within the apiserver's 25-connection webhook pool, and beyond it
WAVES = tuple(int(x) for x in os.environ.get("MG_BENCH_B7_WAVES", "20,50").split(","))
CONCURRENCY = max(WAVES)
#: B9: creates in flight at once (a CI pipeline or controller applying new migrations)
B9_WAVE = 10
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


def _quantile_ms(before: str, after: str, name: str, sel: dict[str, str], q: float) -> float:
    p = quantile(histogram(before, name, sel), histogram(after, name, sel), q)
    if p is None:
        raise RuntimeError(f"no {name} samples in the apiserver metrics")
    return p


B7_SPECS = (  # (row id, wave index, quantile)
    ("B7a", 0, 0.5), ("B7b", 0, 0.99), ("B7c", 1, 0.5), ("B7d", 1, 0.99))


def _b7_rows(samples: dict[tuple[str, int, float], list[float]], within: dict[str, list[float]],
             client: dict[str, list[float]], gate_side: list[float], pool_note: str
             ) -> list[Result]:
    def med(xs: list[float]) -> float:
        return statistics.median(xs) if xs else float("nan")

    rows = []
    for rid, wi, q in B7_SPECS:
        wave = WAVES[wi]
        where = "within" if wave <= 25 else "beyond"
        res = Result(rid, f"webhook p{q * 100:g} seen by kube-apiserver, waves of {wave} "
                     f"concurrent MigrationRequest creates ({where} the apiserver's 25-connection "
                     "webhook pool; the same object each time)", "ms", "ratio_max", 1.15,
                     "B1's bare canned-allow endpoint as the webhook, same waves",
                     gate=samples[("gate", wave, q)], baseline=samples[("canned", wave, q)])
        res.note = (f"Absolute (median of rounds): gate {med(res.gate):.1f} ms, canned "
                    f"{med(res.baseline):.1f} ms (apiserver histogram, buckets 5/25/100 ms, "
                    "interpolated). ")
        floor = samples.get(("floor", wave, q), [])
        if floor:
            ratios = [g / f for g, f in zip(res.gate, floor, strict=False) if f]
            res.note += (f"Floor webhook (the canned endpoint + only the durable audit record, "
                         f"B1's floor) in the same rounds: {med(floor):.1f} ms; gate/floor "
                         f"{med(ratios):.2f}x. ")
        if q == 0.99:
            res.note += (f"Client-side create p99: gate {med(client[f'gate-{wave}']):.1f} ms, "
                         f"canned {med(client[f'canned-{wave}']):.1f} ms. Webhook calls within "
                         f"25 ms: gate {med(within[f'gate-{wave}']):.0%}, canned "
                         f"{med(within[f'canned-{wave}']):.0%}. ")
            if wi == len(WAVES) - 1 and gate_side:
                res.note += (f"The gate's own request-duration p99 over these calls: "
                             f"{med(gate_side):.1f} ms. ")
        res.note += pool_note
        rows.append(res)
    return rows


def _b9_rows(client_ms: dict[str, list[list[float]]], server: dict[str, list[float]]
             ) -> list[Result]:
    from bench import vap

    rows = []
    for rid, q in (("B9a", 50), ("B9b", 99)):
        per = {m: [percentile(xs, q) for xs in client_ms[m]] for m in client_ms}
        res = Result(rid, f"MigrationRequest create p{q} through kube-apiserver, distinct signed "
                     f"objects, {B9_WAVE} in flight: the gate as webhook (c) vs a "
                     f"ValidatingAdmissionPolicy of {len(vap.RULES)} CEL rules (b)", "ms", "info",
                     0.0, "the same creates under the ValidatingAdmissionPolicy",
                     gate=per["gate"], baseline=per["vap"])
        none = statistics.median(per["none"]) if per["none"] else float("nan")
        res.note = (f"(a) no admission: {none:.1f} ms; (b) VAP "
                    f"{statistics.median(per['vap']):.1f} ms; (c) gate "
                    f"{statistics.median(per['gate']):.1f} ms (client-side, median of rounds). "
                    f"apiserver request p{q} (its own histogram): "
                    + ", ".join(f"{m} {statistics.median(server[f'{m}-{q}']):.1f} ms"
                                for m in ("none", "vap", "gate")) + ". ")
        if q == 99:
            res.note += ("What the VAP cannot check (the apiserver's CEL has no hash, no "
                         "base64/JSON/YAML decoding, no signature verification): "
                         + "; ".join(vap.CANNOT) + ".")
        rows.append(res)
    return rows


def k8s(cfg: Config, only: set[str]) -> list[Result]:
    """B7 and/or B9 in one control-plane session."""
    want7, want9 = "B7" in only, "B9" in only
    why = available()
    if why is not None:
        out = []
        for rid, _, _ in B7_SPECS if want7 else ():
            out.append(Result(rid, "webhook latency seen by kube-apiserver", "ms", "ratio_max",
                              1.15, "canned webhook", note=f"Pending: {why}."))
        for rid in ("B9a", "B9b") if want9 else ():
            out.append(Result(rid, "create latency, gate vs ValidatingAdmissionPolicy", "ms",
                              "info", 0.0, "VAP", note=f"Pending: {why}."))
        return out
    from bench import vap
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
    b9_waves = 3 if cfg.quick else 10
    rounds = cfg.rounds  # quick: 3, so a target fails only when most rounds miss it
    a = artifacts()
    template = json.loads(admission_review(a, uid="x"))["request"]["object"]
    n9 = rounds * 3 * (b9_waves + 1) * B9_WAVE + B9_WAVE
    distinct = ([json.loads(admission_review(artifacts(1000 + i), uid="x"))["request"]["object"]
                 for i in range(n9)] if want9 else [])
    next_distinct = iter(distinct)
    b7_modes = ("gate", "canned") if cfg.quick else ("gate", "canned", "floor")
    samples: dict[tuple[str, int, float], list[float]] = {
        (m, w, q): [] for m in b7_modes for w in WAVES for q in (0.5, 0.99)}
    within: dict[str, list[float]] = {f"{m}-{w}": [] for m in b7_modes for w in WAVES}
    client: dict[str, list[float]] = {f"{m}-{w}": [] for m in b7_modes for w in WAVES}
    gate_side: list[float] = []
    b9_client: dict[str, list[list[float]]] = {"none": [], "vap": [], "gate": []}
    b9_server: dict[str, list[float]] = {f"{m}-{q}": [] for m in b9_client for q in (50, 99)}
    pin_plane = os.environ.get("MG_BENCH_B7_PIN_PLANE", "0") == "1"
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        plane = stack.enter_context(ControlPlane(
            ControlPlaneBinaries(etcd=etcd, kube_apiserver=apiserver), work / "controlplane"))
        gate = stack.enter_context(gate_server(work / "gate"))
        canned = stack.enter_context(baseline_server(
            "admission", cert=gate.cert, key=gate.key, log=work / "canned.log"))
        # B1's floor as a third webhook: the canned endpoint + only the durable audit record
        floor = stack.enter_context(baseline_server(
            "admission-audited", cert=gate.cert, key=gate.key, log=work / "floor.log",
            audit_db=work / "floor-audit.db")) if want7 and not cfg.quick else canned
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
                   "canned": webhook_configuration(canned, ca),
                   "floor": webhook_configuration(floor, ca)}
        vwc_name = configs["gate"]["metadata"]["name"]
        vwc_path = ("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
                    + vwc_name)
        vap_path = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
        vapb_path = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"
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

        def set_mode(mode: str) -> None:
            """Exactly one of: nothing, the gate, the canned webhook, the VAP."""
            api.call("DELETE", vwc_path)
            api.call("DELETE", f"{vapb_path}/{vap.NAME}")
            api.call("DELETE", f"{vap_path}/{vap.NAME}")
            _eventually(lambda: not probe_calls_webhook() and probe_status() == 201,
                        "no admission in effect")
            if mode == "none":
                return
            if mode == "vap":
                for path, obj in ((vap_path, vap.policy()), (vapb_path, vap.binding())):
                    status, body = api.call("POST", path, obj)
                    if status != 201:
                        raise RuntimeError(f"{obj['kind']} create failed: {status} {body}")
                _eventually(lambda: 400 <= probe_status() < 500, "the VAP in effect")
                return
            status, body = api.call("POST", vwc_path.rsplit("/", 1)[0], configs[mode])
            if status != 201:
                raise RuntimeError(f"webhook configuration create failed: {status} {body}")
            if mode == "gate":  # the gate denies the bare probe; the canned endpoint allows it
                _eventually(lambda: probe_status() in (400, 403), "the gate webhook in effect")
            else:
                _eventually(probe_calls_webhook, f"the {mode} webhook in effect")

        def gate_metrics() -> str:
            with urllib.request.urlopen(gate.metrics + "/metrics", timeout=30) as resp:
                return str(resp.read().decode())

        waves_pool = Waves(api)
        stack.callback(waves_pool.close)

        def wave(size: int, fresh: bool = False) -> list[float]:
            objs = []
            for _ in range(size):
                obj = json.loads(json.dumps(next(next_distinct) if fresh else template))
                obj["metadata"] = {"name": f"bench-{next(counter)}", "namespace": NAMESPACE}
                objs.append(obj)
            with _pinned_self(LOAD_CPU):
                return waves_pool.run(objs)

        def b7_phase(mode: str) -> None:
            set_mode(mode)
            for size in WAVES:
                wave(size)  # unrecorded warm-up: connections to the webhook, the decision cache
                before = api.metrics()
                gate_before = gate_metrics() if mode == "gate" else ""
                times: list[float] = []
                for _ in range(waves):
                    times += wave(size)
                after = api.metrics()
                client[f"{mode}-{size}"].append(percentile(times, 99))
                hb = histogram(before, WEBHOOK_METRIC, WEBHOOK_SEL)
                ha = histogram(after, WEBHOOK_METRIC, WEBHOOK_SEL)
                within[f"{mode}-{size}"].append(share_within(hb, ha, 0.025))
                for q in (0.5, 0.99):
                    samples[(mode, size, q)].append(
                        _quantile_ms(before, after, WEBHOOK_METRIC, WEBHOOK_SEL, q))
                if mode == "gate" and size == WAVES[-1]:
                    gname, gsel = "migration_gate_request_duration_seconds", {"door": "admission"}
                    gp = quantile(histogram(gate_before, gname, gsel),
                                  histogram(gate_metrics(), gname, gsel), 0.99)
                    if gp is not None:
                        gate_side.append(gp)

        def b9_phase(mode: str) -> None:
            set_mode(mode)
            wave(B9_WAVE, fresh=True)  # unrecorded warm-up
            before = api.metrics()
            times: list[float] = []
            for _ in range(b9_waves):
                times += wave(B9_WAVE, fresh=True)
            after = api.metrics()
            b9_client[mode].append(times)
            name = "apiserver_request_duration_seconds"
            sel = {"verb": "POST", "resource": "migrationrequests", "group": "migrationgate.io"}
            for q in (50, 99):
                b9_server[f"{mode}-{q}"].append(_quantile_ms(before, after, name, sel, q / 100))

        phases: list[tuple[str, Any]] = []
        if want7:
            phases += [(m, b7_phase) for m in b7_modes]
        if want9:
            phases += [(m, b9_phase) for m in ("none", "vap", "gate")]
        for r in range(rounds):
            k = r % len(phases)
            for mode, fn in phases[k:] + phases[:k]:
                fn(mode)
    where = (f"etcd and kube-apiserver pinned to core {LOAD_CPU} with the client"
             if pin_plane else "etcd and kube-apiserver unpinned")
    pool_note = (f"{waves} waves per size and round after a warm-up wave; {where}; control "
                 f"plane start-up {startup:.0f} s.")
    out: list[Result] = []
    if want7:
        out += _b7_rows(samples, within, client, gate_side, pool_note)
    if want9:
        out += _b9_rows(b9_client, b9_server)
    return out
