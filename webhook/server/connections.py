"""Connection guards uvicorn's httptools protocol lacks: head/body timeouts, a head size cap,
connections per client.

uvicorn arms its only timer (keep-alive) after a response, so a connection that never finishes
its request head, or drips its body, is held forever and counts against `--max-concurrency`:
sixty half-sent requests answered every other client with 503. httptools (llhttp) has no head
size limit either (h11's `h11_max_incomplete_event_size` exists only for the slower h11
protocol). `guarded_protocol()` builds an `HttpToolsProtocol` subclass per listener that

* closes a connection whose request head is not complete `header_timeout` s after the
  connection opened or its first head byte arrived (408 when some of it had arrived);
* answers 431 and closes once a request head passes `max_header_bytes`;
* answers 408 and closes when the body delivers fewer than `body_min_rate` bytes/s over a
  `body_timeout` window while the gate is reading (a window where the gate itself paused
  reading, flow control, never counts against the client);
* refuses (closes at once) a connection beyond `max_per_client` open ones from one address;
* answers uvicorn's over-`--max-concurrency` 503 and unparsable-request 400 as `{"error",
  "detail"}` JSON with an X-Request-ID, like every other answer of the gate (uvicorn's are bare
  text).

Each refusal is counted in `migration_gate_connections_refused_total{listener,reason}`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from webhook.server.http import json_bytes
from webhook.server.logs import request_id_from

Refusal = Literal[
    "per-client-limit", "header-timeout", "header-too-large", "body-timeout", "over-capacity",
    "malformed-http",
]  # fmt: skip
KIB = 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Per-listener connection limits (see the module doc); 0 for `max_per_client`: none."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    body_min_rate: int = KIB
    max_header_bytes: int = 64 * KIB
    max_per_client: int = 256


class ClientCounter:
    """Open connections per client address, shared by every connection of one listener."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[str, int] = {}

    def acquire(self, client: str) -> bool:
        count = self.open.get(client, 0)
        if self.limit and count >= self.limit:
            return False
        self.open[client] = count + 1
        return True

    def release(self, client: str) -> None:
        count = self.open.get(client, 0) - 1
        if count > 0:
            self.open[client] = count
        else:
            self.open.pop(client, None)


def _response(status: int, error: str, detail: str) -> bytes:
    """A complete `{"error", "detail"}` JSON answer that closes, with a fresh X-Request-ID
    (no request got far enough to carry one): every answer of the gate has one."""
    body = json_bytes({"error": error, "detail": detail})
    phrase = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: {request_id_from(None)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def too_large(limit: int) -> bytes:
    return _response(431, "header-too-large", f"the request head is over {limit} bytes")


def timed_out(what: str) -> bytes:
    return _response(408, "request-timeout", f"the request {what} did not arrive in time")


def guarded_protocol(
    limits: ConnectionLimits, on_refused: Callable[[Refusal], None] | None = None
) -> type[HttpToolsProtocol]:
    """An `HttpToolsProtocol` subclass enforcing `limits`; pass it as uvicorn's `http=`.

    Call once per listener: the per-client counts are shared by that listener's connections.
    """
    clients = ClientCounter(limits.max_per_client)
    refused = on_refused or (lambda _reason: None)

    class GuardedHttpToolsProtocol(_Guarded):
        _limits = limits
        _clients = clients
        _refused_cb = staticmethod(refused)

    return GuardedHttpToolsProtocol


class _TrackedFlow(FlowControl):
    """uvicorn's flow control, remembering whether the gate paused reading during a window."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__(transport)
        self.paused_in_window = False

    def pause_reading(self) -> None:
        self.paused_in_window = True
        super().pause_reading()


class _Guarded(HttpToolsProtocol):
    _limits: ConnectionLimits
    _clients: ClientCounter
    _refused_cb: Callable[[Refusal], None]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # uvicorn's own over-limit answer is a bare text 503 without X-Request-ID: ours instead
        self._max_concurrency, self.limit_concurrency = self.limit_concurrency, None
        self._client_key: str | None = None
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0
        self._body_window = 0
        self._dead = False
        self._flow: _TrackedFlow | None = None

    # -- connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = self._flow = _TrackedFlow(transport)
        key = self.client[0] if self.client else ""
        if not self._clients.acquire(key):
            self._refuse("per-client-limit", None)
            return
        self._client_key = key
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel(head=True, body=True)
        if self._client_key is not None:
            self._clients.release(self._client_key)
            self._client_key = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._dead:
            return
        if self._reading_head:
            if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm_head()
            self._head_bytes += len(data)
        super().data_received(data)
        if self._dead:
            return
        if self._reading_head:
            if self._head_bytes > self._limits.max_header_bytes:
                self._refuse("header-too-large", too_large(self._limits.max_header_bytes))
        elif self._body_timer is None:  # a body still to come (most requests come whole)
            self._body_timer = self.loop.call_later(self._limits.body_timeout, self._on_body_tick)

    def _should_upgrade_to_ws(self) -> bool:
        """Never: the gate serves no WebSocket, and an upgrade would hand the connection to a
        protocol without these guards (its per-client slot never given back)."""
        return False

    def send_400_response(self, msg: str) -> None:
        """An unparsable request: JSON and X-Request-ID like every other answer."""
        self._refuse("malformed-http", _response(400, "bad-request", msg))

    # -- parser callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._dead:
            return
        self._reading_head = True
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self._dead:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._dead:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._dead:
            return
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self._limits.max_header_bytes:
            self._refuse("header-too-large", too_large(self._limits.max_header_bytes))
            return
        self._reading_head = False
        self._head_bytes = 0
        self._cancel(head=True)
        limit = self._max_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            detail = f"the gate is at its limit of {limit} connections and requests"
            self._refuse("over-capacity", _response(503, "over-capacity", detail))
            return
        super().on_headers_complete()
        self._body_window = 0

    def on_body(self, body: bytes) -> None:
        if self._dead:
            return
        self._body_window += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._dead:
            return
        self._cancel(body=True)
        self._reading_head, self._head_bytes = True, 0  # what comes next is the next head
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._reading_head and self._head_bytes and not self.pipeline:
            self._unset_keepalive_if_required()  # a next head is half there: its timer runs
            self._arm_head()

    # -- timers -------------------------------------------------------------------------------
    def _arm_head(self) -> None:
        self._cancel(head=True)
        self._head_timer = self.loop.call_later(self._limits.header_timeout, self._on_head_timeout)

    def _on_head_timeout(self) -> None:
        self._head_timer = None
        if self._reading_head and not self._dead:
            self._refuse("header-timeout", timed_out("head") if self._head_bytes else None)

    def _on_body_tick(self) -> None:
        self._body_timer = None
        cycle = self.cycle
        if self._dead or cycle is None or not cycle.more_body:
            return
        needed = max(1, int(self._limits.body_min_rate * self._limits.body_timeout))
        flow = self._flow
        if flow is None:
            return
        ours = flow.paused_in_window or cycle.waiting_for_100_continue
        flow.paused_in_window = flow.read_paused  # still paused: the next window is ours too
        if ours or self._body_window >= needed:
            self._body_window = 0  # the gate held the body back, or the client kept the pace
            self._body_timer = self.loop.call_later(self._limits.body_timeout, self._on_body_tick)
            return
        self._refuse("body-timeout", None if cycle.response_started else timed_out("body"))

    def _cancel(self, *, head: bool = False, body: bool = False) -> None:
        if head and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if body and self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _refuse(self, reason: Refusal, response: bytes | None) -> None:
        """Answer (if given) and close; a request still being handled sees a disconnect."""
        self._dead = True
        self._cancel(head=True, body=True)
        self._unset_keepalive_if_required()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        if not self.transport.is_closing():
            if response is not None:
                self.transport.write(response)
            self.transport.close()
        self._refused_cb(reason)
