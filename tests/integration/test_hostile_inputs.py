"""Hostile input through every route of a real `serve` process: never a 5xx, always X-Request-ID.

The same inputs as tests/unit/server/test_srv_hostile_inputs.py, here through uvicorn's real
HTTP parsing and the TLS admission listener, so nothing between the socket and the door turns a
malformed value into a 500.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.conftest import Gate
from tests.unit.server.test_srv_hostile_inputs import (
    ODD_CURSORS,
    ODD_DATES,
    ODD_NUMBERS,
    multipart,
    review,
)

QUERIES = [
    *[("/api/v1/audit/logs", {"limit": v}) for v in ODD_NUMBERS],
    *[("/api/v1/alerts", {"limit": v}) for v in ODD_NUMBERS],
    *[("/api/v1/audit/logs", {name: v}) for v in ODD_DATES for name in ("since", "until")],
    *[
        (path, {"cursor": v})
        for v in ODD_CURSORS
        for path in ("/api/v1/audit/logs", "/api/v1/alerts")
    ],
]
ALERT_IDS = ["9223372036854775808", "18446744073709551616", "9" * 4400, "0", "-1", "%D9%A1%D9%A2"]
_PLAIN = json.dumps(review({"metadata": {"name": "a"}, "spec": {}}))
_DEEP = "[" * 100_000 + "]" * 100_000
BODIES = [
    json.dumps(review({"metadata": [], "spec": {}})).encode(),
    json.dumps(review({"metadata": "x", "spec": {}}, kind="ConfigMap")).encode(),
    _PLAIN.replace('"u-1"', '"\\ud800"').encode(),  # a lone surrogate uid
    _PLAIN.replace('"spec": {}', '"spec": {"x": "\\udfff"}').encode(),
    _PLAIN.replace('"spec": {}', '"spec": {"x": ' + _DEEP + "}").encode(),
]


def answered(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers.get("x-request-id"), r.headers


@pytest.mark.parametrize(("path", "params"), QUERIES)
def test_queries(gate: Gate, path: str, params: dict[str, str]) -> None:
    with gate.client() as c:
        r = c.get(gate.api + path, params=params, headers=gate.auth("viewer"))
    answered(r)
    assert r.status_code == 400


@pytest.mark.parametrize("alert_id", ALERT_IDS)
def test_ack_ids(gate: Gate, alert_id: str) -> None:
    with gate.client() as c:
        r = c.post(gate.api + f"/api/v1/alerts/{alert_id}/ack", headers=gate.auth())
    answered(r)
    assert r.status_code == 404


@pytest.mark.parametrize("index", range(len(BODIES)))
def test_admission_bodies(gate: Gate, index: int) -> None:
    with gate.client() as c:
        r = c.post(
            gate.admission + "/admission/v1/validate",
            content=BODIES[index],
            headers={"Content-Type": "application/json"},
        )
    answered(r)
    if r.status_code == 200:
        assert r.json()["response"]["allowed"] is False


@pytest.mark.parametrize("path", ["/api/v1/validate/migration", "/api/v1/validate/replication"])
def test_upload_with_a_lone_surrogate(gate: Gate, path: str) -> None:
    name = "migration_manifest.json" if path.endswith("migration") else "replication_manifest.yaml"
    content, headers = multipart({name: b'{"app_id": "\\ud800"}'})
    headers["Authorization"] = gate.auth()["Authorization"]
    with gate.client() as c:
        r = c.post(gate.api + path, content=content, headers=headers)
    answered(r)
    assert r.status_code == 400 and name in r.json()["detail"]


def test_trailing_slash_redirects_nowhere(gate: Gate) -> None:
    with gate.client() as c:
        r = c.get(
            gate.api + "/api/v1/audit/logs/",
            headers={**gate.auth("viewer"), "Host": "evil.example"},
        )
    answered(r)
    assert r.status_code == 404 and "location" not in r.headers
