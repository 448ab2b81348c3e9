"""Hostile input through every route: a 4xx (or an admission BLOCK) naming what is wrong, never a
5xx, and every response - a residual 500 too - carries X-Request-ID.

The apps are the deployed ASGI apps (raw admission and upload doors, Starlette for the rest),
driven in-process with raw bytes so that JSON escapes such as a lone `\\ud800` reach the server
exactly as sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from webhook.audit import open_store
from webhook.pipelines import Engine
from webhook.server.app import GateApps, build_apps
from webhook.server.auth import TokenStore, hash_token
from webhook.server.gate import GateState
from webhook.server.settings import ServerSettings

GOOD = Path(__file__).resolve().parents[3] / "examples" / "t1_good"
OPERATOR = "mg_op_" + "h" * 30
AUTH = {"Authorization": f"Bearer {OPERATOR}"}
FILES = ("migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json")
DEEP = 100_000

#: digits str.isdigit() takes but int() may not, or that are not ASCII at all
ODD_NUMBERS = [
    "²",
    "١٢٣",
    "\uff11\uff12",
    "٣",
    "9" * 5000,
    "-1",
    "0x10",
    "1e3",
    " 5",
    "5 ",
    "+5",
    "",
]
ODD_DATES = [
    "9999-12-31T23:59:59-10:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+10:00",  # year 0 in UTC
    "١٩٩٩-01-01T00:00:00Z",
    "\uff11\uff19\uff19\uff19-01-01",  # fullwidth digits
    "99999-01-01T00:00:00Z",
    "9999-99-99",
    "2024-01-01T24:00:00Z",
    "-99999999999999",
    "nan",
    "\x00",
]
ODD_CURSORS = ["99999999999999999999999999", "9223372036854775808", "-1", "١٢٣", "\x00", "a" * 70]


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[GateApps]:
    state = GateState(engine=Engine.load(None, GOOD / "trust"), store=open_store(tmp_path / "a.db"))
    tokens = TokenStore.parse(f"operator:{hash_token(OPERATOR)}:ci\n")
    built = build_apps(ServerSettings(state_dir=tmp_path), state, tokens)
    yield built
    built.gate.close()
    assert state.store is not None
    state.store.close()


def send(app: Any, method: str, url: str, **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
            return await client.request(method, url, **kw)

    return asyncio.run(go())


def refused(r: httpx.Response, *, naming: str | None = None) -> dict[str, Any]:
    """A 4xx with {"error", "detail"} JSON and X-Request-ID; `naming` appears in the detail."""
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers.get("x-request-id"), r.headers
    body: dict[str, Any] = r.json()
    assert set(body) == {"error", "detail"}, body
    if naming is not None:
        assert naming in body["detail"], body
    return body


# ---- query parameters and cursors ----------------------------------------------------------------


@pytest.mark.parametrize("value", ODD_NUMBERS)
@pytest.mark.parametrize("path", ["/api/v1/audit/logs", "/api/v1/alerts"])
def test_limit_must_be_ascii_digits_in_range(apps: GateApps, path: str, value: str) -> None:
    r = send(apps.api, "GET", path, params={"limit": value}, headers=AUTH)
    refused(r, naming="limit")


@pytest.mark.parametrize("value", ODD_DATES)
@pytest.mark.parametrize("name", ["since", "until"])
def test_dates_out_of_range_or_not_ascii_are_bad_queries(
    apps: GateApps, name: str, value: str
) -> None:
    r = send(apps.api, "GET", "/api/v1/audit/logs", params={name: value}, headers=AUTH)
    refused(r, naming=name)


@pytest.mark.parametrize("value", ODD_CURSORS)
@pytest.mark.parametrize("path", ["/api/v1/audit/logs", "/api/v1/alerts"])
def test_odd_cursors_are_bad_queries(apps: GateApps, path: str, value: str) -> None:
    refused(send(apps.api, "GET", path, params={"cursor": value}, headers=AUTH), naming="cursor")


@pytest.mark.parametrize(
    ("name", "value"),
    [("dry_run", "²"), ("scenario", "T٣"), ("subject", "\udcff"), ("request_id", "x" * 300),
     ("env", "e" * 100), ("status", "\x00")],
)  # fmt: skip
def test_other_filters_are_bad_queries(apps: GateApps, name: str, value: str) -> None:
    path = "/api/v1/alerts" if name == "status" else "/api/v1/audit/logs"
    sent = value.encode("utf-8", "replace").decode()  # a client cannot send a surrogate here
    r = send(apps.api, "GET", path, params={name: sent}, headers=AUTH)
    if name == "subject":  # a U+FFFD subject is a valid (unmatched) filter
        assert r.status_code == 200
    else:
        refused(r, naming=name)


@pytest.mark.parametrize(
    "alert_id",
    ["9223372036854775808", "18446744073709551616", "9" * 30, "9" * 5000, "0", "-1", "١٢", "x"],
)
def test_alert_ids_beyond_64_bits_or_not_numbers_are_404(apps: GateApps, alert_id: str) -> None:
    refused(send(apps.api, "POST", f"/api/v1/alerts/{alert_id}/ack", headers=AUTH))


def test_largest_alert_id_is_looked_up_not_refused(apps: GateApps) -> None:
    r = send(apps.api, "POST", f"/api/v1/alerts/{2**63 - 1}/ack", headers=AUTH)
    assert refused(r)["detail"] == f"no alert with id {2**63 - 1}"


# ---- admission -----------------------------------------------------------------------------------


def review(obj: Any, *, kind: str = "MigrationRequest", uid: str = "u-1") -> dict[str, Any]:
    group = "" if kind == "ConfigMap" else "migrationgate.io"
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": "v1", "kind": kind},
            "operation": "CREATE",
            "object": obj,
        },
    }


def admit(apps: GateApps, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    return send(apps.admission, "POST", "/admission/v1/validate", content=body, headers=headers)


KINDS = ["MigrationRequest", "ReplicationRequest", "ConfigMap"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("metadata", [[], "x", 1, True, [{"labels": {}}]])
def test_non_object_metadata_is_a_400_naming_it(apps: GateApps, kind: str, metadata: Any) -> None:
    r = admit(apps, json.dumps(review({"metadata": metadata, "spec": {}}, kind=kind)).encode())
    refused(r, naming="request.object.metadata")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("labels", [[], "x", {"migrationgate.io/scenario": []}])
def test_odd_labels_are_never_a_5xx(apps: GateApps, kind: str, labels: Any) -> None:
    obj = {"metadata": {"name": "a", "labels": labels}, "spec": {}, "data": {}}
    r = admit(apps, json.dumps(review(obj, kind=kind)).encode())
    assert r.status_code < 500 and r.headers.get("x-request-id"), r.text[:300]
    if r.status_code == 200 and kind != "ConfigMap":
        assert r.json()["response"]["allowed"] is False


def _raw_review(obj_json: str, uid: str = '"u-1"') -> bytes:
    text = json.dumps(review({"metadata": {"name": "a"}, "spec": {}}))
    text = text.replace('"u-1"', uid)
    return text.replace('{"metadata": {"name": "a"}, "spec": {}}', obj_json).encode()


@pytest.mark.parametrize(
    ("obj", "uid", "where"),
    [
        ('{"metadata": {"name": "a"}, "spec": {}}', '"\\ud800"', "request.uid"),
        ('{"metadata": {"name": "\\udfff"}, "spec": {}}', '"u-1"', "request.object.metadata.name"),
        ('{"metadata": {"name": "a"}, "spec": {"x": ["\\ud83d"]}}', '"u-1"', "spec.x[0]"),
        ('{"metadata": {"name": "a"}, "spec": {"\\udc00": 1}}', '"u-1"', "request.object.spec."),
    ],
)
def test_lone_surrogates_are_refused_at_the_door(
    apps: GateApps, obj: str, uid: str, where: str
) -> None:
    body = refused(admit(apps, _raw_review(obj, uid)), naming="lone surrogate")
    assert where in body["detail"]


def test_raw_utf8_surrogate_bytes_are_refused(apps: GateApps) -> None:
    body = _raw_review('{"metadata": {"name": "a"}, "spec": {}}', '"u-2"')
    body = body.replace(b'"u-2"', b'"u-\xed\xa0\x80"')  # json.loads(bytes): surrogatepass
    refused(admit(apps, body), naming="request.uid")


def test_a_valid_surrogate_pair_is_text(apps: GateApps) -> None:
    r = admit(apps, _raw_review('{"metadata": {"name": "\\ud83d\\ude00"}, "spec": {}}'))
    assert r.status_code == 200 and r.json()["response"]["allowed"] is False


@pytest.mark.parametrize("depth", [900, 5000, DEEP])
@pytest.mark.parametrize("kind", ["MigrationRequest", "ReplicationRequest"])
def test_deeply_nested_specs_are_refused_or_blocked(apps: GateApps, kind: str, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    obj = '{"metadata": {"name": "a"}, "spec": {"manifest": {"x": ' + deep + "}}}"
    body = _raw_review(obj).replace(b'"MigrationRequest"', f'"{kind}"'.encode())
    r = admit(apps, body)
    assert r.headers.get("x-request-id")
    if r.status_code == 200:
        assert r.json()["response"]["allowed"] is False
    else:
        refused(r)


# ---- API uploads ---------------------------------------------------------------------------------


def multipart(parts: dict[str, bytes]) -> tuple[bytes, dict[str, str]]:
    out = b""
    for name, data in parts.items():
        head = f'--B\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n\r\n'
        out += head.encode() + data + b"\r\n"
    out += b"--B--\r\n"
    return out, {"Content-Type": "multipart/form-data; boundary=B", **AUTH}


def _good_parts() -> dict[str, bytes]:
    return {name: (GOOD / name).read_bytes() for name in FILES}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize(
    "payload", [b'{"app_id": "\\ud800"}', b"app_id: \xed\xa0\x80\n", b'{"k": "\\\\\\udfff"}']
)
def test_upload_parts_with_lone_surrogates_are_refused(
    apps: GateApps, name: str, payload: bytes
) -> None:
    parts = {**_good_parts(), name: payload}
    content, headers = multipart(parts)
    r = send(apps.api, "POST", "/api/v1/validate/migration", content=content, headers=headers)
    body = refused(r, naming=name)
    assert "lone surrogate" in body["detail"]


def test_replication_upload_with_lone_surrogate_is_refused(apps: GateApps) -> None:
    content, headers = multipart({"replication_manifest.yaml": b'source_db: "\\ud800"\n'})
    r = send(apps.api, "POST", "/api/v1/validate/replication", content=content, headers=headers)
    refused(r, naming="replication_manifest.yaml")


def test_escaped_backslash_u_is_text_not_a_surrogate(apps: GateApps) -> None:
    parts = _good_parts()
    content, headers = multipart(parts)
    r = send(apps.api, "POST", "/api/v1/validate/migration", content=content, headers=headers)
    assert r.status_code == 200, r.text[:300]
    parts["app-config.yaml"] += b'\nnote: "\\\\ud800"\n'  # the text \ud800, not a surrogate
    content, headers = multipart(parts)
    r = send(apps.api, "POST", "/api/v1/validate/migration", content=content, headers=headers)
    assert r.status_code == 422  # decided (config hash changed), not refused


@pytest.mark.parametrize("name", FILES)
def test_deeply_nested_upload_parts_block(apps: GateApps, name: str) -> None:
    parts = {**_good_parts(), name: b"[" * DEEP + b"]" * DEEP}
    content, headers = multipart(parts)
    r = send(apps.api, "POST", "/api/v1/validate/migration", content=content, headers=headers)
    assert r.status_code == 422 and r.headers.get("x-request-id"), r.text[:300]
    assert r.json()["decision"] == "BLOCK"


# ---- redirects and residual 500s -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/audit/logs/", "/api/v1/alerts/", "/api/v1/openapi.json/"]
)
def test_trailing_slash_is_not_redirected_to_the_clients_host(apps: GateApps, path: str) -> None:
    r = send(apps.api, "GET", path, headers={**AUTH, "Host": "evil.example"})
    assert "location" not in r.headers
    assert refused(r)["error"] == "not-found"


def test_admission_trailing_slash_is_not_redirected(apps: GateApps) -> None:
    r = send(apps.admission, "POST", "/admission/v1/validate/", headers={"Host": "evil.example"})
    assert "location" not in r.headers and r.status_code == 404


def test_a_residual_500_still_carries_the_request_id(
    apps: GateApps, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = apps.gate.state.store
    assert store is not None

    def broken(**_kw: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(store.alerts, "list", broken)
    r = send(apps.api, "GET", "/api/v1/alerts", headers={**AUTH, "X-Request-ID": "trace-1"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "trace-1"
    assert r.json() == {"error": "internal-error", "detail": "internal error (RuntimeError)"}
