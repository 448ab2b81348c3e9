"""Headers on every UI response, and the same-origin check every POST passes first."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

#: no script at all, styles only from our one stylesheet, forms only to ourselves, never framed
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on our
    # own form posts, and the origin check could no longer tell them from a sandboxed frame's
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def harden(response: Response, *, no_store: bool = True) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def same_origin(request: Request) -> bool:
    """False for a POST a browser marks as cross-site (Sec-Fetch-Site, Origin vs Host).

    SameSite=Strict already keeps the session cookie off such requests, and the CSRF token
    is checked after this; this refuses them before any body is read."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":  # an opaque origin: only if the browser itself says same-origin
        return site == "same-origin"
    host = request.headers.get("host", "")
    parts = urlsplit(origin)
    return parts.netloc.lower() == host.lower() and parts.scheme == request.url.scheme
