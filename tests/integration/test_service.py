"""The shared gate: auth per role, metrics moving with decisions, bad input, health, OpenAPI."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate as validate_spec

from tests.integration.conftest import (
    EXAMPLES,
    Gate,
    metric_value,
    post_review,
    review,
    scrape,
)
from tests.integration.test_examples_parity import api_files, config_map, migration_request

GOOD = EXAMPLES / "t1_good"
BAD = EXAMPLES / "t1_bad_tls_disabled"


def validate(gate: Gate, folder: Path, role: str = "operator") -> httpx.Response:
    with gate.client() as c:
        return c.post(
            gate.api + "/api/v1/validate/migration",
            files=api_files(folder),
            headers=gate.auth(role),
        )


# ---- auth ----


@pytest.mark.parametrize(
    ("method", "path", "role", "status"),
    [
        ("GET", "/api/v1/audit/logs", "viewer", 200),
        ("GET", "/api/v1/alerts", "viewer", 200),
        ("GET", "/api/v1/audit/logs", "operator", 200),
        ("POST", "/api/v1/validate/migration", "viewer", 403),
        ("POST", "/api/v1/validate/replication", "viewer", 403),
        ("POST", "/api/v1/alerts/1/ack", "viewer", 403),
        ("GET", "/api/v1/audit/logs", None, 401),
        ("POST", "/api/v1/validate/migration", None, 401),
        ("GET", "/api/v1/alerts", "invalid", 401),
        ("POST", "/api/v1/alerts/1/ack", "invalid", 401),
    ],
)
def test_roles(gate: Gate, method: str, path: str, role: str | None, status: int) -> None:
    headers = {}
    if role == "invalid":
        headers = {"Authorization": "Bearer not-a-real-token"}
    elif role is not None:
        headers = gate.auth(role)
    with gate.client() as c:
        r = c.request(method, gate.api + path, headers=headers)
    assert r.status_code == status, r.text
    if status in (401, 403):
        body = r.json()
        assert set(body) == {"error", "detail"}
        assert body["error"] == ("unauthorized" if status == 401 else "forbidden")
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
    # the token never appears in the logs
    assert gate.tokens["operator"] not in gate.stderr.read_text()
    assert "not-a-real-token" not in gate.stderr.read_text()


def test_operator_validates_and_acks(gate: Gate) -> None:
    r = validate(gate, BAD)
    assert r.status_code == 422
    with gate.client() as c:
        alerts = c.get(
            gate.api + "/api/v1/alerts", params={"status": "firing"}, headers=gate.auth("viewer")
        ).json()["alerts"]
        assert alerts, "a BLOCK opens an alert"
        alert_id = alerts[0]["id"]
        acked = c.post(f"{gate.api}/api/v1/alerts/{alert_id}/ack", headers=gate.auth())
        assert acked.status_code == 200, acked.text
        assert acked.json()["status"] == "acknowledged"
        assert acked.json()["acked_by"] == "operator-user"  # the token's name, never the token
        missing = c.post(f"{gate.api}/api/v1/alerts/999999/ack", headers=gate.auth())
        assert missing.status_code == 404 and missing.json()["error"] == "not-found"


def test_audit_query_filters_and_pagination(gate: Gate) -> None:
    for _ in range(3):
        assert validate(gate, GOOD).status_code == 200
    with gate.client() as c:
        h = gate.auth("viewer")
        page1 = c.get(
            gate.api + "/api/v1/audit/logs",
            params={"limit": 2, "decision": "ALLOW", "source": "api"},
            headers=h,
        ).json()
        assert len(page1["records"]) == 2 and page1["next_cursor"]
        assert all(r["decision"] == "ALLOW" and r["source"] == "api" for r in page1["records"])
        page2 = c.get(
            gate.api + "/api/v1/audit/logs",
            params={
                "limit": 2,
                "decision": "ALLOW",
                "source": "api",
                "cursor": page1["next_cursor"],
            },
            headers=h,
        ).json()
        seqs1 = {r["seq"] for r in page1["records"]}
        assert page2["records"] and not seqs1 & {r["seq"] for r in page2["records"]}
        bad = c.get(gate.api + "/api/v1/audit/logs", params={"limit": "0"}, headers=h)
        assert bad.status_code == 400
        bad = c.get(gate.api + "/api/v1/audit/logs", params={"decision": "MAYBE"}, headers=h)
        assert bad.status_code == 400 and "decision" in bad.json()["detail"]
        bad = c.get(gate.api + "/api/v1/audit/logs", params={"cursor": "%%%"}, headers=h)
        assert bad.status_code == 400
        bad = c.get(gate.api + "/api/v1/audit/logs", params={"colour": "red"}, headers=h)
        assert bad.status_code == 400 and "colour" in bad.json()["detail"]


# ---- metrics ----


def test_metrics_move_with_decisions(gate: Gate) -> None:
    name = "migration_gate_decisions_total"
    before = scrape(gate)
    assert validate(gate, GOOD).status_code == 200
    assert validate(gate, BAD).status_code == 422
    uid = "metrics-dry-run"
    resp = post_review(
        gate,
        review(
            migration_request(BAD),
            uid=uid,
            group="migrationgate.io",
            version="v1alpha1",
            kind="MigrationRequest",
            dry_run=True,
        ),
    )
    assert resp["allowed"] is False
    after = scrape(gate)

    def delta(metric: str, **labels: str) -> float:
        return metric_value(after, metric, **labels) - metric_value(before, metric, **labels)

    assert delta(name, scenario="T1", decision="ALLOW", source="api", env="prod") == 1
    assert delta(name, scenario="T1", decision="BLOCK", source="api", env="prod") == 1
    assert delta(name, scenario="T1", decision="BLOCK", source="admission", env="prod") == 1
    assert (
        delta("migration_gate_dry_run_decisions_total", scenario="T1", decision="BLOCK", env="prod")
        == 1
    )
    assert (
        delta(
            "migration_gate_policy_violations_total",
            policy="tls-required",
            env="prod",
            action="enforce",
        )
        == 2
    )
    assert delta("migration_gate_request_duration_seconds_count", door="api") >= 2
    assert delta("migration_gate_request_duration_seconds_count", door="admission") >= 1
    assert metric_value(after, "migration_gate_build_info") == 1
    assert (
        metric_value(
            after, "migration_gate_tls_cert_not_after_timestamp_seconds", listener="admission"
        )
        > 0
    )
    # the dry run is audited as such and raises no alert
    with gate.client() as c:
        recs = c.get(
            gate.api + "/api/v1/audit/logs", params={"request_id": uid}, headers=gate.auth("viewer")
        ).json()["records"]
    assert len(recs) == 1 and recs[0]["dry_run"] is True


def test_integrity_failures_counted(gate: Gate) -> None:
    before = scrape(gate)
    r = validate(gate, EXAMPLES / "t1_bad_hash_mismatch")
    assert r.status_code == 422
    after = scrape(gate)
    name = "migration_gate_integrity_failures_total"
    assert (
        metric_value(after, name, check="config-hash-mismatch")
        - metric_value(before, name, check="config-hash-mismatch")
        == 1
    )


# ---- health ----


def test_probes(gate: Gate) -> None:
    assert httpx.get(gate.metrics + "/livez").status_code == 200
    ready = httpx.get(gate.metrics + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["components"] == {
        "policy": "ok",
        "trust": "ok",
        "audit": "ok",
        "tls-admission": "ok",
    }
    # metrics are not served on the TLS doors
    with gate.client() as c:
        assert c.get(gate.admission + "/metrics").status_code == 404


def test_request_id_is_echoed_and_sanitised(gate: Gate) -> None:
    with gate.client() as c:
        r = c.get(gate.api + "/api/v1/openapi.json", headers={"X-Request-ID": "ci-run-42"})
        assert r.headers["x-request-id"] == "ci-run-42"
        r = c.get(gate.api + "/api/v1/openapi.json", headers={"X-Request-ID": "bad id;<script>"})
        assert r.headers["x-request-id"] != "bad id;<script>"
        assert len(r.headers["x-request-id"]) == 36  # a fresh uuid4 instead
    lines = [ln for ln in gate.log_lines() if ln.get("request_id") == "ci-run-42"]
    assert lines and lines[0]["door"] == "api" and lines[0]["status"] == 200
    assert {"ts", "level", "method", "path", "duration_ms"} <= set(lines[0])


# ---- bad input ----


def raw_admission(gate: Gate, body: bytes, ctype: str = "application/json") -> httpx.Response:
    with gate.client() as c:
        return c.post(
            gate.admission + "/admission/v1/validate", content=body, headers={"Content-Type": ctype}
        )


def test_admission_rejects_malformed_reviews(gate: Gate) -> None:
    good = review({}, uid="u", group="apps", version="v1", kind="Deployment")
    no_uid = json.loads(json.dumps(good))
    del no_uid["request"]["uid"]
    v1beta1 = {**good, "apiVersion": "admission.k8s.io/v1beta1"}
    wrong_kind = {**good, "kind": "Review"}
    cases: list[tuple[bytes, str]] = [
        (json.dumps(no_uid).encode(), "request.uid"),
        (json.dumps(v1beta1).encode(), "apiVersion"),
        (json.dumps(wrong_kind).encode(), "kind"),
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
    ]
    for body, needle in cases:
        r = raw_admission(gate, body)
        assert r.status_code == 400, (needle, r.text)
        assert r.json()["error"] == "invalid-admission-review"
        assert needle in r.json()["detail"]
    r = raw_admission(gate, json.dumps(good).encode(), "text/plain")
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    huge = b'{"apiVersion": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    r = raw_admission(gate, huge)
    assert r.status_code == 413 and r.json()["error"] == "payload-too-large"


def test_oversized_body_without_content_length_is_cut_off(gate: Gate) -> None:
    """Chunked upload: the limit is enforced while streaming, not only from Content-Length."""

    def chunks() -> Any:
        for _ in range(80):
            yield b"x" * 65536

    with gate.client() as c:
        r = c.post(
            gate.admission + "/admission/v1/validate",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 413


def test_unknown_kinds_and_delete_pass_untouched(gate: Gate) -> None:
    before = scrape(gate)
    for obj, kind, group, op in [
        ({"metadata": {"name": "d"}}, "Deployment", "apps", "CREATE"),
        ({"metadata": {"name": "cm"}, "data": {"a": "b"}}, "ConfigMap", "", "CREATE"),
        (None, "MigrationRequest", "migrationgate.io", "DELETE"),
    ]:
        uid = f"skip-{kind}-{op}"
        resp = post_review(
            gate, review(obj, uid=uid, group=group, version="v1", kind=kind, operation=op)
        )
        assert resp == {"uid": uid, "allowed": True}
        with gate.client() as c:
            recs = c.get(
                gate.api + "/api/v1/audit/logs",
                params={"request_id": uid},
                headers=gate.auth("viewer"),
            ).json()["records"]
        assert recs == []  # not audited: the gate has no opinion on it
    after = scrape(gate)
    skipped = "migration_gate_admission_skipped_total"
    assert metric_value(after, skipped) - metric_value(before, skipped) == 3


def test_labelled_object_that_cannot_be_parsed_is_denied(gate: Gate) -> None:
    cm = config_map(GOOD)
    cm["metadata"]["labels"]["migrationgate.io/scenario"] = "teleport"
    resp = post_review(
        gate, review(cm, uid="cm-bad-label", group="", version="v1", kind="ConfigMap")
    )
    assert resp["allowed"] is False and resp["status"]["code"] == 403
    assert "[input-invalid]" in resp["status"]["message"]
    mr = migration_request(GOOD)
    mr["spec"] = ["not", "an", "object"]
    resp = post_review(
        gate,
        review(
            mr,
            uid="mr-bad-spec",
            group="migrationgate.io",
            version="v1alpha1",
            kind="MigrationRequest",
        ),
    )
    assert resp["allowed"] is False and "spec" in resp["status"]["message"]
    cm = config_map(GOOD)
    del cm["data"]["app-config.yaml"]
    resp = post_review(
        gate,
        review(cm, uid="cm-missing", group="", version="v1", kind="ConfigMap", operation="UPDATE"),
    )
    assert resp["allowed"] is False
    assert "[input-missing] app-config.yaml" in resp["status"]["message"]


def test_warn_policies_become_admission_warnings(gate: Gate) -> None:
    resp = post_review(
        gate,
        review(
            config_map(EXAMPLES / "t1_staging_warn"),
            uid="cm-warn",
            group="",
            version="v1",
            kind="ConfigMap",
        ),
        env="staging",  # a staging namespace's webhook entry
    )
    assert resp["allowed"] is True
    assert resp["warnings"] and all(len(w) <= 256 for w in resp["warnings"])
    assert all(w.startswith("[") for w in resp["warnings"])


def multipart_body(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_api_bad_multipart(gate: Gate) -> None:
    manifest = (GOOD / "migration_manifest.json").read_bytes()
    config = (GOOD / "app-config.yaml").read_bytes()
    body = multipart_body(
        [("migration_manifest.json", "m.json", manifest), ("app-config.yaml", "c.yaml", config)]
    )
    url = gate.api + "/api/v1/validate/migration"
    with gate.client() as c:
        h = gate.auth()
        truncated = c.post(
            url,
            content=body[: len(body) // 2],
            headers={**h, "Content-Type": "multipart/form-data; boundary=XyZ"},
        )
        assert truncated.status_code == 400 and "truncated" in truncated.json()["detail"]
        no_boundary = c.post(
            url, content=body, headers={**h, "Content-Type": "multipart/form-data"}
        )
        assert no_boundary.status_code == 400 and "boundary" in no_boundary.json()["detail"]
        wrong_type = c.post(
            url, content=manifest, headers={**h, "Content-Type": "application/json"}
        )
        assert wrong_type.status_code == 415
        unknown = c.post(url, files=[("app_config.yaml", ("x", config))], headers=h)
        assert unknown.status_code == 400 and "app_config.yaml" in unknown.json()["detail"]
        dup = multipart_body([("app-config.yaml", "a", config), ("app-config.yaml", "b", config)])
        r = c.post(
            url, content=dup, headers={**h, "Content-Type": "multipart/form-data; boundary=XyZ"}
        )
        assert r.status_code == 400 and "twice" in r.json()["detail"]
        # multipart is fine, a part is missing: a client mistake (400 naming the part), not a
        # BLOCK that opens an alert
        missing = c.post(url, files=[("migration_manifest.json", ("m.json", manifest))], headers=h)
        assert missing.status_code == 400
        assert missing.json()["error"] == "missing-part"
        assert "app-config.yaml" in missing.json()["detail"]
        big = c.post(
            url, files=[("app-config.yaml", ("c", b"x" * (4 * 1024 * 1024 + 1)))], headers=h
        )
        assert big.status_code == 413
    # nothing is left in the upload spool
    assert not any((gate.state / "tmp").glob("upload-*"))


def test_replication_upload_streams_to_spool_and_cleans_up(gate: Gate) -> None:
    folder = EXAMPLES / "t2_good"
    with gate.client() as c:
        r = c.post(
            gate.api + "/api/v1/validate/replication", files=api_files(folder), headers=gate.auth()
        )
        assert r.status_code == 200, r.text
        missing = c.post(
            gate.api + "/api/v1/validate/replication",
            files=[f for f in api_files(folder) if f[0] != "snapshot.tar.gz"],
            headers=gate.auth(),
        )
    assert missing.status_code == 400
    assert missing.json()["error"] == "missing-part"
    assert "snapshot.tar.gz" in missing.json()["detail"]
    assert not any((gate.state / "tmp").glob("upload-*"))


def test_openapi_document(gate: Gate) -> None:
    doc = httpx.get(gate.api + "/api/v1/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    paths = set(doc["paths"])
    assert {
        "/api/v1/validate/migration",
        "/api/v1/validate/replication",
        "/api/v1/audit/logs",
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}/ack",
    } <= paths
    for name in ("Decision", "AuditRecord", "Alert", "Error", "Reason"):
        assert name in doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    validate_spec(doc)


def test_tls_floor_on_admission(gate: Gate) -> None:
    host, port = gate.admission.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(gate.ca))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection((host, int(port))) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()
        assert cipher is not None and ("GCM" in cipher[0] or "CHACHA20" in cipher[0])
        assert "ECDHE" in cipher[0]
