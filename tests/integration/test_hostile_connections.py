"""Connection-level attacks on a real `migration-gate serve` process over loopback sockets.

Half-sent requests, idle connections and oversized heads against the TLS admission listener and
the plain API listener. Small configured timeouts; no wall-clock assertion beyond generous socket
timeouts (a hang fails the test instead of blocking the run).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.integration.conftest import TOKENS, Gate, metric_value, review, scrape

Factory = Any
WAIT = 30.0
GUARDS = (
    "--header-timeout", "1", "--max-connections-per-client", "16", "--max-concurrency", "60",
)  # fmt: skip


def _raw(gate: Gate, listener: str) -> socket.socket:
    url = urlsplit(gate.urls[listener])
    sock = socket.create_connection((url.hostname, url.port), timeout=WAIT)
    if url.scheme == "https":
        return gate.ssl_context().wrap_socket(sock, server_hostname="localhost")
    return sock


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    with contextlib.suppress(ConnectionResetError, ssl.SSLError, BrokenPipeError):
        while chunk := sock.recv(65536):
            out += chunk
    return out


def _admit(gate: Gate) -> httpx.Response:
    body = review({}, uid="probe", group="apps", version="v1", kind="Deployment")
    with gate.client() as c:
        return c.post(gate.admission + "/admission/v1/validate", json=body)


def test_half_sent_requests_are_cut_off_and_never_hold_the_listener(
    gate_factory: Factory,
) -> None:
    """100 half-sent heads used to hold --max-concurrency slots: 503 to every apply."""
    gate = gate_factory(*GUARDS)
    held = []
    try:
        for _ in range(100):
            sock = _raw(gate, "admission")
            sock.sendall(b"POST /admission/v1/validate HTTP/1.1\r\nHost: gate\r\nContent-Le")
            held.append(sock)
        # beyond 16 per client the gate closed them at once; the first 16 it closes after 1 s
        answers = [_read_all(sock) for sock in held]
        assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in answers), answers[:3]
        assert sum(a.startswith(b"HTTP/1.1 408") for a in answers) == 16
    finally:
        for sock in held:
            sock.close()
    r = _admit(gate)
    assert r.status_code == 200 and r.json()["response"]["allowed"] is True
    text = scrape(gate)
    refused = "migration_gate_connections_refused_total"
    assert metric_value(text, refused, listener="admission", reason="per-client-limit") >= 84
    assert metric_value(text, refused, listener="admission", reason="header-timeout") == 16


def test_idle_connections_are_closed_after_the_header_timeout(gate_factory: Factory) -> None:
    gate = gate_factory(*GUARDS)
    for listener in ("admission", "api", "metrics"):
        with _raw(gate, listener) as sock:
            assert _read_all(sock) == b""  # closed by the gate, nothing sent either way


def test_a_16_mib_head_is_refused(gate_factory: Factory) -> None:
    gate = gate_factory(*GUARDS)
    for listener in ("admission", "api"):
        with _raw(gate, listener) as sock:
            head = b"GET /api/v1/alerts HTTP/1.1\r\nHost: gate\r\nX-Big: " + b"a" * (16 << 20)

            def send(sock: socket.socket = sock, head: bytes = head) -> None:
                with contextlib.suppress(OSError):
                    sock.sendall(head + b"\r\n\r\n")

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            answer = _read_all(sock)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
            sock.close()
            sender.join(WAIT)
            assert not sender.is_alive()
    with httpx.Client(timeout=WAIT) as c:  # the listener still answers
        assert c.get(gate.api + "/api/v1/alerts").status_code == 401


def test_a_stalled_upload_body_is_timed_out(gate_factory: Factory) -> None:
    gate = gate_factory("--body-timeout", "0.5", "--body-min-rate", "1KiB", tokens=dict(TOKENS))
    for path in (b"/api/v1/validate/replication", b"/api/v1/validate/migration"):
        with _raw(gate, "api") as sock:
            sock.sendall(
                b"POST " + path + b" HTTP/1.1\r\nHost: gate\r\n"
                b"Authorization: Bearer " + TOKENS["operator"].encode() + b"\r\n"
                b"Content-Type: multipart/form-data; boundary=B\r\n"
                b"Content-Length: 1000000\r\n\r\n--B\r\n"
            )
            assert _read_all(sock).startswith(b"HTTP/1.1 408")
    stderr = gate.stderr.read_text()
    assert "Traceback" not in stderr and "unhandled error" not in stderr
