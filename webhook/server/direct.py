"""A door's handler, served two ways: straight on ASGI for its hot paths, and as a Starlette route.

A handler is `handle(scope, receive, state) -> (status, JSON body)`, raising HTTPError for a
refusal: the door's whole logic, written once. `DirectRoute` answers POSTs to its paths with it
and sends everything else to the listener's Starlette app, where `route` mounts the very same
handler (so a GET gets Starlette's 405, and the equivalence tests can compare the two).

Why two: Starlette's Request, routing, exception wrappers and the RequestContext middleware cost
about a fifth of a small request's CPU under load (measured: admission +6-21%, API upload
+15-17% requests/s served direct, docs/architecture.md). `DirectRoute` keeps what they provide:
`{"error", "detail"}` JSON for an HTTPError, a JSON 500 (then the exception re-raised, as
Starlette's ServerErrorMiddleware does), `X-Request-ID`, the duration metric and one access
line, with headers in the order Starlette gives them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from webhook.server.http import HTTPError, json_bytes
from webhook.server.logs import CLIENT_GONE, AccessLog, scope_request_id

log = logging.getLogger("migration_gate.app")

#: a door's handler: the status and JSON body of one request (HTTPError for a refusal)
Handler = Callable[[Scope, Receive, dict[str, Any]], Awaitable[tuple[int, bytes]]]


def route(path: str, handle: Handler) -> Route:
    """`handle` as a Starlette `POST path` route (the listener's app, behind `DirectRoute`)."""

    async def endpoint(request: Request) -> Response:
        state: dict[str, Any] = request.scope.setdefault("state", {})
        status, body = await handle(request.scope, request.receive, state)
        return Response(body, status_code=status, media_type="application/json")

    return Route(path, endpoint, methods=["POST"])


class DirectRoute:
    """`POST` to one of `paths` answered by `handle`; every other request goes to `fallback`."""

    def __init__(
        self, handle: Handler, fallback: ASGIApp, access: AccessLog, *, paths: tuple[str, ...]
    ) -> None:
        self.handle = handle
        self.fallback = fallback
        self.access = access
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or scope["method"] != "POST":
            await self.fallback(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = scope_request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        try:
            headers: dict[str, str] = {}
            try:
                status, body = await self.handle(scope, receive, state)
            except HTTPError as exc:
                status, headers = exc.status, exc.headers
                body = json_bytes({"error": exc.error, "detail": exc.detail})
            except ClientDisconnect:  # gone (or timed out by the connection guard): no answer
                status = CLIENT_GONE
                return
            except Exception as exc:  # as Starlette's ServerErrorMiddleware: answer, re-raise
                log.exception("unhandled error", extra={"request_id": request_id})
                detail = f"internal error ({type(exc).__name__})"
                error = json_bytes({"error": "internal-error", "detail": detail})
                await send_json(send, 500, error, request_id, {})
                raise
            await send_json(send, status, body, request_id, headers)
        finally:
            self.access.done(scope, request_id, status, start, state)


async def send_json(
    send: Send, status: int, body: bytes, request_id: str, extra: dict[str, str]
) -> None:
    """Headers in the order Starlette's Response + RequestContext give them."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    headers += [
        (b"content-length", str(len(body)).encode("latin-1")),
        (b"content-type", b"application/json"),
        (b"x-request-id", request_id.encode("ascii")),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
