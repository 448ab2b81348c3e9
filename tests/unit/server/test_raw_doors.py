"""Each hot door's raw ASGI path must answer exactly like its Starlette route.

Both serve the same handler (`ApiDoor.handle_migration`, `AdmissionDoor.handle`); what differs
is the plumbing around it. Every request is sent twice, once to the listener as deployed (a
`DirectRoute`) and once to its Starlette fallback (the route with the RequestContext
middleware): status, JSON body (apart from the decision's own request id and time), header
names and order, the challenge header, the access line and the duration metric must agree.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_examples_parity import migration_request
from webhook.audit import AuditQuery, open_store
from webhook.contracts.decision import Decision
from webhook.pipelines import Engine
from webhook.server.admission import ADMISSION_PATH, STAGING_ADMISSION_PATH
from webhook.server.api import MIGRATION_PATH
from webhook.server.app import GateApps, build_apps
from webhook.server.auth import TokenStore, hash_token
from webhook.server.direct import DirectRoute
from webhook.server.gate import GateState
from webhook.server.settings import ServerSettings

GOOD = Path(__file__).resolve().parents[3] / "examples" / "t1_good"
OPERATOR, VIEWER = "mg_op_" + "a" * 30, "mg_view_" + "b" * 30
FILES = ("migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json")
Sent = tuple[str, str, dict[str, str], bytes]
#: (name, method, path, headers, body)
SentTo = tuple[str, str, str, dict[str, str], bytes]


def body(parts: list[tuple[str, bytes]], boundary: str = "XyZ", tail: bytes = b"") -> bytes:
    out = b""
    for name, data in parts:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '.encode()
        out += f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode() + tail


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[GateApps]:
    settings = ServerSettings(state_dir=tmp_path, max_upload=64 * 1024, max_small_part=8192)
    store = open_store(tmp_path / "audit.db")
    state = GateState(engine=Engine.load(None, GOOD / "trust"), store=store)
    tokens = TokenStore.parse(
        f"operator:{hash_token(OPERATOR)}:ci\nviewer:{hash_token(VIEWER)}:dash\n"
    )
    built = build_apps(settings, state, tokens)
    yield built
    built.gate.close()
    store.close()


def requests() -> list[Sent]:
    good = [(name, (GOOD / name).read_bytes()) for name in FILES]
    bad = [*good[:1], (FILES[1], good[1][1] + b"\n# changed\n"), *good[2:]]
    mp = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    op = {"Authorization": f"Bearer {OPERATOR}", **mp}
    return [
        ("allow", "POST", op, body(good)),
        ("allow again", "POST", op, body(good)),  # a decision-cache hit
        ("block", "POST", op, body(bad)),
        ("chunked-epilogue", "POST", op, body(good, tail=b"epilogue")),
        ("no token", "POST", mp, body(good)),
        ("bad token", "POST", {**mp, "Authorization": "Bearer nope"}, body(good)),
        ("basic auth", "POST", {**mp, "Authorization": "Basic eDp5"}, body(good)),
        ("viewer", "POST", {**mp, "Authorization": f"Bearer {VIEWER}"}, body(good)),
        ("json", "POST", {**op, "Content-Type": "application/json"}, b"{}"),
        ("no boundary", "POST", {**op, "Content-Type": "multipart/form-data"}, body(good)),
        ("too big", "POST", op, body([(FILES[1], b"x" * 70000)])),
        ("part too big", "POST", op, body([(FILES[1], b"x" * 9000)])),
        ("unknown part", "POST", op, body([("nope", b"1")])),
        ("twice", "POST", op, body([(FILES[0], b"1"), (FILES[0], b"2")])),
        ("preamble", "POST", op, b"junk\r\n" + body(good)),
        ("truncated", "POST", op, body(good)[:-30]),
        ("lf only", "POST", op, body(good).replace(b"\r\n", b"\n")),
        ("get", "GET", op, b""),
    ]


def send(app: Any, sent: list[Sent] | list[SentTo], tag: str) -> list[httpx.Response]:
    """Each request in order (to MIGRATION_PATH unless it names its path)."""
    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            out = []
            for item in sent:
                name, method, *rest = item
                path, headers, content = rest if len(rest) == 3 else (MIGRATION_PATH, *rest)
                rid = {"X-Request-ID": f"{tag}-{name.replace(' ', '-')}"}
                out.append(
                    await c.request(method, path, headers={**headers, **rid}, content=content)
                )
            return out

    return asyncio.run(main())


def comparable(resp: httpx.Response) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
    doc = json.loads(resp.content)
    if "decision" in doc:
        doc.pop("request_id")
        doc.pop("timestamp")
    headers = [(k, b"" if k == b"x-request-id" else v) for k, v in resp.headers.raw]
    return resp.status_code, doc, headers


def access_lines(text: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if '"logger":"migration_gate.access"'
             in line.replace(" ", "")]  # fmt: skip
    for line in lines:
        for volatile in ("ts", "duration_ms", "request_id"):
            line.pop(volatile)
    return lines


def duration_count(apps: GateApps, door: str = "api") -> float:
    text, _ = apps.metrics.exposition()
    for line in text.decode().splitlines():
        if line.startswith(f'migration_gate_request_duration_seconds_count{{door="{door}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {door} duration count")


@dataclass
class Both:
    """The same requests answered by the raw door and by its Starlette fallback."""

    fast: list[httpx.Response]
    slow: list[httpx.Response]
    fast_log: str
    slow_log: str
    #: requests counted by the duration metric on each side
    counted: tuple[float, float]


def both(
    apps: GateApps, door: str, sent: list[Sent] | list[SentTo], capsys: pytest.CaptureFixture[str]
) -> Both:
    raw = apps.api if door == "api" else apps.admission
    assert isinstance(raw, DirectRoute)
    access = logging.getLogger("migration_gate.access")
    level = access.level
    access.setLevel(logging.INFO)
    try:
        capsys.readouterr()
        before = duration_count(apps, door)
        fast = send(raw, sent, "fast")
        fast_log = capsys.readouterr().err
        middle = duration_count(apps, door)
        slow = send(raw.fallback, sent, "slow")
        slow_log = capsys.readouterr().err
        after = duration_count(apps, door)
    finally:
        access.setLevel(level)
    return Both(fast, slow, fast_log, slow_log, (middle - before, after - middle))


def test_raw_door_answers_like_the_starlette_route(
    apps: GateApps, capsys: pytest.CaptureFixture[str]
) -> None:
    sent = requests()
    got = both(apps, "api", sent, capsys)
    fast, slow, fast_log, slow_log = got.fast, got.slow, got.fast_log, got.slow_log
    for (name, *_), a, b in zip(sent, fast, slow, strict=True):
        assert comparable(a) == comparable(b), name
        assert a.headers["x-request-id"] == f"fast-{name.replace(' ', '-')}"
        if "decision" in a.json():  # the canonical Decision JSON, byte for byte
            for resp in (a, b):
                canonical = Decision.model_validate_json(resp.content).to_json().encode()
                assert resp.content == canonical, name
    statuses = {name: r.status_code for (name, *_), r in zip(sent, fast, strict=True)}
    assert statuses == {
        "allow": 200, "allow again": 200, "block": 422, "chunked-epilogue": 200, "no token": 401,
        "bad token": 401,
        "basic auth": 401, "viewer": 403, "json": 415, "no boundary": 400, "too big": 413,
        "part too big": 413, "unknown part": 400, "twice": 400, "preamble": 400,
        "truncated": 400, "lf only": 400, "get": 405,
    }  # fmt: skip
    assert fast[0].json()["decision"] == "ALLOW" and fast[2].json()["decision"] == "BLOCK"
    assert 'error="invalid_token"' in fast[5].headers["www-authenticate"]
    assert access_lines(fast_log) == access_lines(slow_log)
    assert access_lines(fast_log)[0]["principal"] == "ci"
    assert access_lines(fast_log)[0]["decision"] == "ALLOW"
    assert got.counted == (len(sent), len(sent))
    # every decision is audited once, under the id the response carries
    store = apps.gate.state.store
    assert store is not None
    for tag, resps in (("fast", fast), ("slow", slow)):
        for resp in resps[:4]:
            rid = resp.headers["x-request-id"]
            assert rid.startswith(tag) and resp.json()["request_id"] == rid
            page = store.query(AuditQuery(request_id=rid))
            assert [r.decision for r in page.records] == [resp.json()["decision"]]


def test_raw_door_internal_error_is_a_json_500(apps: GateApps) -> None:
    raw = apps.api
    assert isinstance(raw, DirectRoute)

    async def boom(*_: Any) -> Any:
        raise RuntimeError("engine exploded")

    raw.handle = boom  # fault injection
    transport = httpx.ASGITransport(app=raw, raise_app_exceptions=False)

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            return await c.post(MIGRATION_PATH, content=b"")

    resp = asyncio.run(main())
    assert resp.status_code == 500
    assert resp.json() == {"error": "internal-error", "detail": "internal error (RuntimeError)"}
    assert "x-request-id" in resp.headers


def review_body(obj: Any, uid: str, *, kind: str = "MigrationRequest", op: str = "CREATE") -> bytes:
    group = "" if kind == "ConfigMap" else "migrationgate.io"
    version = "v1" if kind == "ConfigMap" else "v1alpha1"
    request = {"uid": uid, "kind": {"group": group, "version": version, "kind": kind},
               "operation": op, "object": obj, "dryRun": False}  # fmt: skip
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    return json.dumps(review).encode()


def admission_requests() -> list[SentTo]:
    good = migration_request(GOOD)
    bad = json.loads(json.dumps(good))
    bad["spec"]["version"] = "9.9.9"  # the spec no longer says what was signed
    js = {"Content-Type": "application/json"}
    prod, staging = ADMISSION_PATH, STAGING_ADMISSION_PATH
    other = {"kind": "ConfigMap", "metadata": {"name": "x"}}
    return [
        ("allow", "POST", prod, js, review_body(good, "u1")),
        ("allow again", "POST", prod, js, review_body(good, "u2")),  # a decision-cache hit
        ("block", "POST", prod, js, review_body(bad, "u3")),
        ("staging", "POST", staging, js, review_body(good, "u4")),  # signed for prod: env-mismatch
        ("shape", "POST", prod, js, review_body({"spec": "not an object"}, "u5")),
        ("not gated", "POST", prod, js, review_body(other, "u6", kind="ConfigMap")),
        ("delete", "POST", prod, js, review_body(good, "u7", op="DELETE")),
        ("charset", "POST", prod, {"Content-Type": "application/json; charset=utf-8"},
         review_body(good, "u8")),
        ("text", "POST", prod, {"Content-Type": "text/plain"}, review_body(good, "u9")),
        ("no type", "POST", prod, {}, review_body(good, "u10")),
        ("too big", "POST", prod, js, b" " * 5000),
        ("bad length", "POST", prod, {**js, "Content-Length": "nope"}, b"{}"),
        ("not json", "POST", prod, js, b"{nope"),
        ("not a review", "POST", prod, js, b'{"kind": "Pod"}'),
        ("surrogate", "POST", prod, js, review_body(good, "u11").replace(b'"u11"', b'"\\ud800"')),
        ("lone surrogate", "POST", prod, js, review_body(good, "u12").replace(
            b'"payments"', b'"\\ud800"', 1)),
        ("get", "GET", prod, js, b""),
        ("elsewhere", "POST", "/admission/v1/validate/dev", js, b"{}"),
    ]  # fmt: skip


def test_raw_admission_door_answers_like_the_starlette_route(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ServerSettings(state_dir=tmp_path, max_body=4096)
    store = open_store(tmp_path / "audit.db")
    built = build_apps(settings, GateState(engine=Engine.load(None, GOOD / "trust"), store=store),
                       None)  # fmt: skip
    sent = admission_requests()
    try:
        got = both(built, "admission", sent, capsys)
    finally:
        built.gate.close()
    fast, slow, fast_log, slow_log = got.fast, got.slow, got.fast_log, got.slow_log
    for (name, *_), a, b in zip(sent, fast, slow, strict=True):
        assert comparable(a) == comparable(b), name
    statuses = {name: r.status_code for (name, *_), r in zip(sent, fast, strict=True)}
    assert statuses == {
        "allow": 200, "allow again": 200, "block": 200, "staging": 200, "shape": 200,
        "not gated": 200, "delete": 200, "charset": 200, "text": 415, "no type": 415,
        "too big": 413, "bad length": 400, "not json": 400, "not a review": 400,
        "surrogate": 400, "lone surrogate": 400, "get": 405, "elsewhere": 404,
    }  # fmt: skip
    allowed = {name: r.json()["response"]["allowed"] for (name, *_), r in zip(sent, fast,
               strict=True) if r.status_code == 200}  # fmt: skip
    assert allowed == {"allow": True, "allow again": True, "block": False, "staging": False,
                       "shape": False, "not gated": True, "delete": True, "charset": True}
    assert access_lines(fast_log) == access_lines(slow_log)
    assert [line.get("decision") for line in access_lines(fast_log)[:3]] == [
        "ALLOW", "ALLOW", "BLOCK"]  # fmt: skip
    assert got.counted == (len(sent), len(sent))
    # every gated decision is audited once per side, under the review's uid
    for uid in ("u1", "u2", "u3", "u4", "u5", "u8"):
        assert len(store.query(AuditQuery(request_id=uid)).records) == 2, uid
    for uid in ("u6", "u7"):  # not gated: not audited
        assert store.query(AuditQuery(request_id=uid)).records == []
    store.close()
