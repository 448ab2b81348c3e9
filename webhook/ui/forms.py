"""Small urlencoded forms (login, logout, ack) read with a hard size limit."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from webhook.server.http import HTTPError

MAX_FORM = 16 * 1024


async def small_form(request: Request) -> dict[str, str]:
    """The fields of an application/x-www-form-urlencoded body of at most MAX_FORM bytes."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise HTTPError(415, "unsupported-media-type", "this form must be sent urlencoded")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise HTTPError(413, "payload-too-large", f"form is over {MAX_FORM} bytes")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=16, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise HTTPError(400, "bad-form", "the form is not valid UTF-8 urlencoded text") from None
    out: dict[str, str] = {}
    for name, value in pairs:
        if name in out:
            raise HTTPError(400, "bad-form", f"field {name[:32]!r} sent twice")
        out[name] = value
    return out
