"""Faults, each on its own gate: audit store locked, bad policy bundle, expired or missing
certificate, rotation under load, client certificates, deadline, SIGTERM with a request in flight.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.integration.conftest import (
    EXAMPLES,
    TOKENS,
    Gate,
    metric_value,
    post_review,
    review,
    scrape,
)
from tests.integration.test_examples_parity import api_files, config_map, migration_request
from webhook.server.devcerts import issue_server_cert, make_ca, write_pair

GOOD = EXAMPLES / "t1_good"
TRUST = ["--trust-dir", str(GOOD / "trust")]
Factory = Callable[..., Gate]


def validate(gate: Gate, folder: Path = GOOD) -> httpx.Response:
    with gate.client(timeout=60) as c:
        return c.post(
            gate.api + "/api/v1/validate/migration", files=api_files(folder), headers=gate.auth()
        )


def test_locked_audit_store_blocks_and_is_not_ready(gate_factory: Factory) -> None:
    gate = gate_factory(*TRUST, tokens=dict(TOKENS))
    assert validate(gate).status_code == 200
    lock = sqlite3.connect(gate.state / "audit.db", timeout=1, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # another writer holds the store: appends time out
        r = validate(gate)
        assert r.status_code == 422
        reasons = r.json()["reasons"]
        assert [x["policy"] for x in reasons] == ["audit-write-failed"]
        ready = httpx.get(gate.metrics + "/readyz", timeout=30)
        assert ready.status_code == 503
        assert "not writable" in ready.json()["components"]["audit"]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    text = scrape(gate)
    assert metric_value(text, "migration_gate_audit_write_failures_total") == 1
    assert metric_value(text, "migration_gate_decisions_total", decision="BLOCK", source="api") == 1
    assert httpx.get(gate.metrics + "/readyz", timeout=30).status_code == 200
    assert validate(gate).status_code == 200  # recovers once the store is writable again


def test_bad_policy_bundle_serves_unready_and_denies(gate_factory: Factory, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies: [unclosed\n")
    gate = gate_factory("--policy", str(policy), *TRUST, tokens=dict(TOKENS))
    assert httpx.get(gate.metrics + "/livez").status_code == 200
    ready = httpx.get(gate.metrics + "/readyz")
    assert ready.status_code == 503
    assert str(policy) in ready.json()["components"]["policy"]
    resp = post_review(
        gate,
        review(
            migration_request(GOOD),
            uid="bad-policy",
            group="migrationgate.io",
            version="v1alpha1",
            kind="MigrationRequest",
        ),
    )
    assert resp["allowed"] is False
    assert "[gate-config-invalid]" in resp["status"]["message"]
    assert str(policy) in resp["status"]["message"]
    r = validate(gate)
    assert r.status_code == 422 and r.json()["reasons"][0]["policy"] == "gate-config-invalid"
    # precise error in the structured log
    assert any(
        ln.get("event") == "config-invalid" and str(policy) in ln["msg"] for ln in gate.log_lines()
    )


def _pki(tmp: Path) -> tuple[Any, x509.Certificate, Path]:
    ca_key, ca_cert = make_ca("test CA")
    ca_path = tmp / "ca.crt"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return ca_key, ca_cert, ca_path


def test_expired_certificate_unready_until_rotated(gate_factory: Factory, tmp_path: Path) -> None:
    ca_key, ca_cert, ca_path = _pki(tmp_path)
    crt, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    k, c = issue_server_cert(
        ca_key,
        ca_cert,
        ["localhost", "127.0.0.1"],
        not_before=past - dt.timedelta(days=30),
        not_after=past,
    )
    write_pair(crt, key, k, c)
    gate = gate_factory("--cert", str(crt), "--key", str(key), *TRUST)
    gate.ca = ca_path
    ready = httpx.get(gate.metrics + "/readyz")
    assert ready.status_code == 503
    assert "expired" in ready.json()["components"]["tls-admission"]
    not_after = metric_value(
        scrape(gate), "migration_gate_tls_cert_not_after_timestamp_seconds", listener="admission"
    )
    assert not_after == pytest.approx(past.replace(microsecond=0).timestamp())
    with pytest.raises(httpx.ConnectError), gate.client() as client:
        client.post(gate.admission + "/admission/v1/validate", json={})  # clients refuse it
    assert any(ln.get("event") == "tls-cert-expired" for ln in gate.log_lines())
    k2, c2 = issue_server_cert(ca_key, ca_cert, ["localhost", "127.0.0.1"])
    write_pair(crt, key, k2, c2)
    assert httpx.get(gate.metrics + "/readyz").status_code == 200  # no restart needed
    not_after = metric_value(
        scrape(gate), "migration_gate_tls_cert_not_after_timestamp_seconds", listener="admission"
    )
    assert not_after > time.time()


def test_missing_certificate_refuses_to_start(gate_factory: Factory, tmp_path: Path) -> None:
    gate = gate_factory(
        "--cert", str(tmp_path / "nope.crt"), "--key", str(tmp_path / "nope.key"), wait=False
    )
    assert gate.proc.wait(30) == 2
    assert "nope.crt" in gate.stderr.read_text()


# ---- rotation under load ----


def _k8s_secret_dir(root: Path, version: str, key: Any, cert: x509.Certificate) -> None:
    """The layout a Secret volume has: files behind a `..data` symlink swapped atomically."""
    vdir = root / f"..{version}"
    vdir.mkdir()
    write_pair(vdir / "tls.crt", vdir / "tls.key", key, cert)
    tmp_link = root / "..data_tmp"
    tmp_link.symlink_to(vdir.name)
    os.replace(tmp_link, root / "..data")
    for name in ("tls.crt", "tls.key"):
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")


def _one_request(host: str, port: int, ctx: ssl.SSLContext) -> int:
    """A brand-new TLS connection, one admission request; returns the served cert serial."""
    body = json.dumps(review({}, uid="rot", group="apps", version="v1", kind="Deployment")).encode()
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        tls.sendall(
            b"POST /admission/v1/validate HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        assert b'"allowed":true' in data
        return x509.load_der_x509_certificate(der).serial_number


def test_rotation_under_load_drops_nothing(gate_factory: Factory, tmp_path: Path) -> None:
    ca_key, ca_cert, ca_path = _pki(tmp_path)
    secret = tmp_path / "secret"
    secret.mkdir()
    k1, c1 = issue_server_cert(ca_key, ca_cert, ["localhost", "127.0.0.1"])
    _k8s_secret_dir(secret, "v1", k1, c1)
    gate = gate_factory("--cert", str(secret / "tls.crt"), "--key", str(secret / "tls.key"))
    host, port = gate.admission.removeprefix("https://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(ca_path))
    serials: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def client_loop() -> None:
        for _ in range(2000):  # bounded
            if stop.is_set():
                return
            try:
                serials.append(_one_request(host, int(port), ctx))
            except Exception as exc:
                failures.append(repr(exc))

    thread = threading.Thread(target=client_loop)
    thread.start()
    rotations = []
    try:
        for version in ("v2", "v3"):
            seen = len(serials)
            deadline = time.monotonic() + 20
            while len(serials) < seen + 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            k, c = issue_server_cert(ca_key, ca_cert, ["localhost", "127.0.0.1"])
            _k8s_secret_dir(secret, version, k, c)
            rotations.append(c.serial_number)
        seen = len(serials)
        deadline = time.monotonic() + 20
        while len(serials) < seen + 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(30)
    assert failures == []
    assert serials[0] == c1.serial_number
    assert serials[-1] == rotations[-1]
    assert set(rotations) <= set(serials)
    # the order served is monotone: once a new serial is seen the old one never comes back
    order = [s for i, s in enumerate(serials) if i == 0 or serials[i - 1] != s]
    assert order == [c1.serial_number, *rotations]
    reloads = [ln["msg"] for ln in gate.log_lines() if ln.get("event") == "tls-reload"]
    # a swap racing a reload may reload the same pair twice; never a pair that was not published
    assert {int(m.split("serial=")[1].split()[0], 16) for m in reloads} == set(rotations)
    print(f"rotation: {len(serials)} requests on new TLS connections, 0 failed")


def test_client_certificates_required_when_configured(
    gate_factory: Factory, tmp_path: Path
) -> None:
    state_ca = tmp_path / "gate0" / "state" / "tls" / "ca.crt"  # generated at first start
    gate = gate_factory("--client-ca", str(state_ca))
    body = review({}, uid="mtls", group="apps", version="v1", kind="Deployment")
    no_cert = (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)
    with pytest.raises(no_cert), gate.client() as c:
        c.post(gate.admission + "/admission/v1/validate", json=body)
    ca_key = serialization.load_pem_private_key((state_ca.parent / "ca.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(state_ca.read_bytes())
    key, cert = issue_server_cert(ca_key, ca_cert, ["kube-apiserver"], client_auth=True)  # type: ignore[arg-type]
    write_pair(tmp_path / "client.crt", tmp_path / "client.key", key, cert)
    ctx = gate.ssl_context()
    ctx.load_cert_chain(tmp_path / "client.crt", tmp_path / "client.key")
    with httpx.Client(verify=ctx) as c:
        r = c.post(gate.admission + "/admission/v1/validate", json=body)
    assert r.status_code == 200 and r.json()["response"]["allowed"] is True


def test_deadline_exceeded_denies_and_is_audited(gate_factory: Factory) -> None:
    gate = gate_factory("--admission-deadline", "0.000001", *TRUST, tokens=dict(TOKENS))
    resp = post_review(
        gate, review(config_map(GOOD), uid="late", group="", version="v1", kind="ConfigMap")
    )
    assert resp["allowed"] is False
    assert "[deadline-exceeded]" in resp["status"]["message"]
    with gate.client() as c:
        recs = c.get(
            gate.api + "/api/v1/audit/logs",
            params={"request_id": "late"},
            headers=gate.auth("viewer"),
        ).json()["records"]
    assert len(recs) == 1 and recs[0]["decision"] == "BLOCK"


# ---- first start + graceful shutdown ----


@pytest.fixture
def slow_body() -> Iterator[tuple[threading.Event, Callable[[], Iterator[bytes]], str]]:
    started = threading.Event()
    boundary = "slowboundary"
    parts = []
    for f in ("migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json"):
        parts.append(
            f"--{boundary}\r\n".encode()
            + f'Content-Disposition: form-data; name="{f}"; filename="{f}"\r\n\r\n'.encode()
            + (GOOD / f).read_bytes()
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())

    def gen() -> Iterator[bytes]:
        for i, part in enumerate(parts):
            yield part
            if i == 0:
                started.set()
            time.sleep(0.5)

    yield started, gen, boundary


def test_first_start_token_and_sigterm_drains_inflight(
    gate_factory: Factory, slow_body: tuple[threading.Event, Callable[[], Iterator[bytes]], str]
) -> None:
    gate = gate_factory(*TRUST)
    banner = gate.stderr.read_text()
    token = (gate.state / "operator-token.txt").read_text().strip()
    assert token in banner  # printed once at first start
    assert oct((gate.state / "operator-token.txt").stat().st_mode & 0o777) == "0o600"
    assert token not in (gate.state / "operator-token").read_text()
    started, gen, boundary = slow_body
    result: dict[str, Any] = {}

    def slow_request() -> None:
        with httpx.Client(timeout=60) as c:
            r = c.post(
                gate.api + "/api/v1/validate/migration",
                content=gen(),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                },
            )
        result["status"] = r.status_code
        result["decision"] = r.json()["decision"]

    thread = threading.Thread(target=slow_request)
    thread.start()
    assert started.wait(10)
    time.sleep(0.2)
    gate.proc.send_signal(signal.SIGTERM)
    thread.join(60)
    assert result == {"status": 200, "decision": "ALLOW"}  # the in-flight request completed
    assert gate.proc.wait(30) == 0
    assert any(ln.get("event") == "shutdown" for ln in gate.log_lines())
    # its decision was audited before exit: the JSON line on stdout
    lines = [json.loads(x) for x in gate.stdout.read_text().splitlines() if x.startswith("{")]
    assert [ln["decision"] for ln in lines] == ["ALLOW"]


def test_api_over_tls_when_asked(gate_factory: Factory) -> None:
    gate = gate_factory("--api-tls", "true", *TRUST, tokens=dict(TOKENS))
    assert gate.api.startswith("https://")
    with gate.client() as c:
        r = c.get(gate.api + "/api/v1/alerts", headers=gate.auth("viewer"))
    assert r.status_code == 200
    text = scrape(gate)
    for listener in ("admission", "api"):
        name = "migration_gate_tls_cert_not_after_timestamp_seconds"
        assert metric_value(text, name, listener=listener) > time.time()
    assert "tls-api" in httpx.get(gate.metrics + "/readyz").json()["components"]
