"""Small HTTP helpers shared by the doors: JSON errors, bounded body reads, content types."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


class HTTPError(Exception):
    """A request the door refuses before any decision: rendered as {"error", "detail"} JSON."""

    def __init__(
        self, status: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def error_response(exc: HTTPError) -> Response:
    return json_response({"error": exc.error, "detail": exc.detail}, exc.status, exc.headers)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_media_type(request: Request, *accepted: str) -> None:
    got = media_type(request)
    if got not in accepted:
        raise HTTPError(
            415,
            "unsupported-media-type",
            f"Content-Type must be {' or '.join(accepted)} (found {got or 'none'})",
        )


def declared_length(request: Request, limit: int) -> int | None:
    """Content-Length if sane; 413 early when it already says the body is too big."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise HTTPError(400, "bad-request", "Content-Length is not a number")
    length = int(raw)
    if length > limit:
        raise HTTPError(
            413, "payload-too-large", f"body is {length} bytes, over the {limit}-byte limit"
        )
    return length


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it passes `limit`, whatever Content-Length said."""
    declared_length(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, "payload-too-large", f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
