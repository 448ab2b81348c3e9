"""One hot POST route served straight on ASGI, everything else through the Starlette app.

Starlette's Request, routing, exception wrappers and the RequestContext middleware cost about a
fifth of a request's CPU under load. The admission webhook and the API upload route skip them
but keep what they provide: `{"error", "detail"}` JSON for an HTTPError, a JSON 500 (then the
exception re-raised, as Starlette's ServerErrorMiddleware does), `X-Request-ID`, the duration
metric and one access line, with headers in the order Starlette gives them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from webhook.server.http import HTTPError, json_bytes
from webhook.server.logs import CLIENT_GONE, AccessLog, scope_request_id

log = logging.getLogger("migration_gate.app")


class DirectRoute:
    """`POST path` answered by `handle`; every other request goes to `fallback`."""

    path: str

    def __init__(self, fallback: ASGIApp, access: AccessLog) -> None:
        self.fallback = fallback
        self.access = access

    def serves(self, path: str) -> bool:
        """Whether `handle` answers `path` (one path; a subclass may serve a fixed few)."""
        return path == self.path

    async def handle(
        self, scope: Scope, receive: Receive, state: dict[str, Any]
    ) -> tuple[int, bytes]:
        """The status and JSON body for one request; raise HTTPError for a refusal."""
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.serves(scope["path"]) or scope["method"] != "POST":
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
