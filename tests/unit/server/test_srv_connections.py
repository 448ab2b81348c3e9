"""Connection guards on a real uvicorn server with real sockets on loopback (127.0.0.1, ::1).

The server runs the guarded httptools protocol in a thread with its own event loop; clients are
plain sockets, so half-sent heads, drips and oversized heads are sent exactly as an attacker
would. No test asserts a wall-clock bound: timeouts here are generous socket timeouts only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from webhook.server.connections import ConnectionLimits, Refusal, guarded_protocol

WAIT = 20.0  # generous: a socket read that never returns fails the test instead of hanging


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body (after `?sleep=N` s), answers 200 with its length."""
    if scope["type"] != "http":
        return
    if scope["query_string"].startswith(b"sleep="):
        await asyncio.sleep(float(scope["query_string"][6:]))
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass
class Served:
    ports: dict[str, int]
    refused: list[Refusal] = field(default_factory=list)


@contextmanager
def serve(
    limits: ConnectionLimits, *, hosts: tuple[str, ...] = ("127.0.0.1",), concurrency: int = 1024
) -> Iterator[Served]:
    """A uvicorn server with the guarded protocol, one listening socket per loopback host."""
    socks = []
    for host in hosts:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.bind((host, 0))
        sock.listen(512)
        socks.append(sock)
    served = Served({h: s.getsockname()[1] for h, s in zip(hosts, socks, strict=True)})
    config = uvicorn.Config(
        app,
        http=guarded_protocol(limits, served.refused.append),
        loop="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        limit_concurrency=concurrency,
        timeout_keep_alive=60,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=socks),), daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield served
    finally:
        server.should_exit = server.force_exit = True
        thread.join(WAIT)
        for sock in socks:
            sock.close()


def connect(served: Served, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection((host, served.ports[host]), timeout=WAIT)
    _READERS.pop(sock.fileno(), None)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (or resets) the connection."""
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    return out


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body (buffered per socket: pipelined answers)."""
    reader = _READERS.setdefault(sock.fileno(), sock.makefile("rb"))
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()
        if not line:
            return head
        head += line
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + reader.read(length)


_READERS: dict[int, BinaryIO] = {}


def get(served: Served, host: str = "127.0.0.1", path: str = "/") -> bytes:
    with connect(served, host) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        return read_all(sock)


def test_half_sent_heads_from_one_client_do_not_starve_another() -> None:
    """100 half-sent requests from 127.0.0.1 used to hold every slot (503 for everyone)."""
    limits = ConnectionLimits(header_timeout=60, max_per_client=16)
    with serve(limits, hosts=("127.0.0.1", "::1"), concurrency=60) as served:
        attackers = []
        for _ in range(100):
            sock = connect(served)
            sock.sendall(b"POST /admission/v1/validate HTTP/1.1\r\nHost: t\r\nContent-Le")
            attackers.append(sock)
        try:
            answer = get(served, "::1")
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            assert served.refused.count("per-client-limit") >= 100 - 16
        finally:
            for sock in attackers:
                sock.close()


def test_per_client_slots_are_given_back_on_close() -> None:
    with serve(ConnectionLimits(max_per_client=2)) as served:
        for _ in range(5):  # more connections over time than the limit: each one is released
            assert get(served).startswith(b"HTTP/1.1 200")
        held = [connect(served), connect(served)]
        try:
            assert get(served) == b""  # the third at once: closed without an answer
        finally:
            for sock in held:
                sock.close()


def test_idle_connection_is_closed_after_the_header_timeout() -> None:
    with serve(ConnectionLimits(header_timeout=0.3)) as served, connect(served) as sock:
        assert read_all(sock) == b""  # nothing sent: closed without an answer
    assert served.refused == ["header-timeout"]


def test_half_sent_head_gets_408_after_the_header_timeout() -> None:
    with serve(ConnectionLimits(header_timeout=0.3)) as served, connect(served) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 408")


def test_dripping_head_is_timed_out_from_its_start() -> None:
    """Each byte arriving does not restart the head timer (slowloris)."""
    drip = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"a" * 400
    with serve(ConnectionLimits(header_timeout=0.5)) as served, connect(served) as sock:
        answer = None
        for byte in drip:  # one byte per 50 ms: 20 s for all, unless the server stops it
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                answer = b""
                break
            if select.select([sock], [], [], 0.05)[0]:
                answer = read_all(sock)
                break
        assert answer is not None, "the drip was never stopped"
        assert answer.startswith(b"HTTP/1.1 408")
    assert served.refused == ["header-timeout"]


def test_keep_alive_idle_then_next_request_still_served() -> None:
    with serve(ConnectionLimits(header_timeout=0.3)) as served, connect(served) as sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(0.5)  # idle past header_timeout between requests: keep-alive rules
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
    assert served.refused == []


def _send_huge_head(sock: socket.socket, size: int) -> None:
    with contextlib.suppress(OSError):  # the server closed while we sent: what the test wants
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * size + b"\r\n\r\n")


@pytest.mark.parametrize("size", [16 * 1024 * 1024, 100 * 1024])
def test_oversized_head_is_refused(size: int) -> None:
    with serve(ConnectionLimits()) as served, connect(served) as sock:
        sender = threading.Thread(target=_send_huge_head, args=(sock, size), daemon=True)
        sender.start()
        answer = read_all(sock)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
        sender.join(WAIT)
        assert not sender.is_alive()
    assert served.refused == ["header-too-large"]


def test_many_small_headers_over_the_limit_are_refused_in_one_chunk() -> None:
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 30) for i in range(2000))
    with serve(ConnectionLimits()) as served, connect(served) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n" + lines + b"\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 431")
    assert served.refused == ["header-too-large"]


def test_head_just_under_the_limit_is_served() -> None:
    with serve(ConnectionLimits(max_header_bytes=8192)) as served, connect(served) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-A: " + b"a" * 7000 + b"\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")


def test_stalled_body_gets_408() -> None:
    limits = ConnectionLimits(body_timeout=0.3, body_min_rate=100)
    with serve(limits) as served, connect(served) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nabc")
        assert read_all(sock).startswith(b"HTTP/1.1 408")
    assert served.refused == ["body-timeout"]


def test_body_at_a_good_pace_is_served() -> None:
    limits = ConnectionLimits(body_timeout=0.3, body_min_rate=100)
    with serve(limits) as served, connect(served) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4000\r\n\r\n")
        for _ in range(8):  # 500 bytes per 0.1 s: far above 100 B/s
            sock.sendall(b"x" * 500)
            time.sleep(0.1)
        assert read_response(sock).endswith(b"\r\n\r\n4000")


def test_a_body_the_gate_holds_back_is_not_the_clients_fault() -> None:
    """The app reads late (a busy gate): reading pauses, and paused windows never count."""
    limits = ConnectionLimits(body_timeout=0.2, body_min_rate=1024 * 1024)
    size = 2 * 1024 * 1024
    with serve(limits) as served, connect(served) as sock:
        head = f"POST /?sleep=1.0 HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n"
        sender = threading.Thread(
            target=sock.sendall, args=(head.encode() + b"x" * size,), daemon=True
        )
        sender.start()
        assert read_response(sock).endswith(f"\r\n\r\n{size}".encode())
        sender.join(WAIT)
    assert served.refused == []


def test_serve_configures_every_listener_with_the_guarded_protocol() -> None:
    """`serve` wires the settings into each listener's protocol (not plain httptools)."""
    from webhook.server.run import Listener, _config
    from webhook.server.settings import ServerSettings

    settings = ServerSettings(
        header_timeout=3, body_timeout=7, body_min_rate=5, max_header_bytes=999,
        max_connections_per_client=4,
    )  # fmt: skip
    protocols = set()
    for name in ("admission", "api", "metrics"):
        config = _config(settings, Listener(name, app, 0, None))
        limits = config.http_protocol_class._limits  # type: ignore[attr-defined]
        assert limits == ConnectionLimits(3, 7, 5, 999, 4)
        protocols.add(config.http_protocol_class)
    assert len(protocols) == 3  # one per listener: per-client counts are per listener


def _json_answer(answer: bytes, status: int) -> dict[str, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d" % status), answer[:200]
    headers = dict(
        (k.strip().lower(), v.strip())
        for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n")[1:])
    )
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"x-request-id"]
    found: dict[str, str] = json.loads(body)
    assert set(found) == {"error", "detail"}
    return found


def test_over_capacity_is_a_json_503_with_a_request_id() -> None:
    with serve(ConnectionLimits(max_per_client=0), concurrency=3) as served:
        idle = [connect(served), connect(served), connect(served)]
        try:
            body = _json_answer(get(served), 503)
            assert body["error"] == "over-capacity" and "3" in body["detail"]
        finally:
            for sock in idle:
                sock.close()
    assert "over-capacity" in served.refused


def test_an_unparsable_request_is_a_json_400_with_a_request_id() -> None:
    with serve(ConnectionLimits()) as served, connect(served) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert _json_answer(read_all(sock), 400)["error"] == "bad-request"


def test_refusals_carry_a_request_id() -> None:
    with serve(ConnectionLimits(header_timeout=0.3)) as served, connect(served) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        assert _json_answer(read_all(sock), 408)["error"] == "request-timeout"
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 30) for i in range(2000))
    with serve(ConnectionLimits()) as served, connect(served) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n" + lines + b"\r\n")
        assert _json_answer(read_all(sock), 431)["error"] == "header-too-large"


UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def test_a_websocket_upgrade_stays_guarded_http() -> None:
    """An upgrade used to hand the connection to uvicorn's WebSocket protocol: unguarded, and
    its per-client slot never given back (the client was refused for good)."""
    with serve(ConnectionLimits(max_per_client=1)) as served:
        for _ in range(3):
            with connect(served) as sock:
                sock.sendall(UPGRADE)
                assert read_all(sock).startswith(b"HTTP/1.1 200")  # the gate closes: released
        assert get(served).startswith(b"HTTP/1.1 200")  # the slot came back every time
