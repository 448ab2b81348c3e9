"""What every UI view shares: the gate, the API door, sessions, templates, and the page wrapper.

`page()` turns a view into a Starlette endpoint that always answers a hardened HTML page:
an HTTPError becomes its status with the message on the page, a missing session a redirect to
the login form, anything unexpected a 500 page (logged) - never a traceback, never JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from webhook.audit import AuditStore
from webhook.server.api import ApiDoor
from webhook.server.auth import Role
from webhook.server.gate import Gate
from webhook.server.http import HTTPError
from webhook.ui.ratelimit import LoginLimiter
from webhook.ui.render import Renderer
from webhook.ui.security import harden, is_tls
from webhook.ui.sessions import SESSION_COOKIE, Session, Sessions

log = logging.getLogger("migration_gate.ui")
UI_PREFIX = "/ui"
CSRF_FIELD = "csrf_token"
NAV = (
    ("dashboard", "Dashboard", "/ui/"),
    ("migration", "Migration", "/ui/migration"),
    ("replication", "Replication", "/ui/replication"),
    ("audit", "Audit log", "/ui/audit"),
    ("alerts", "Alerts", "/ui/alerts"),
)

View = Callable[[Request], Awaitable[Response]]


class LoginRequired(Exception):
    """No valid session: GET goes to the login form, anything else gets 401."""


class UiContext:
    def __init__(
        self,
        gate: Gate,
        door: ApiDoor,
        sessions: Sessions | None,
        *,
        disabled: str | None = None,
    ) -> None:
        self.gate = gate
        self.door = door
        self._sessions = sessions
        #: why the UI cannot run (an unusable session key): every page says so, 503
        self.disabled = disabled
        self.limiter = LoginLimiter()
        self.renderer = Renderer()

    @property
    def sessions(self) -> Sessions:
        if self._sessions is None:
            raise HTTPError(503, "ui-unavailable", self.disabled or "UI not configured")
        return self._sessions

    # -- sessions ----------------------------------------------------------------------------
    def session(self, request: Request) -> Session | None:
        return self.sessions.verify(request.cookies.get(SESSION_COOKIE))

    def require(self, request: Request, role: Role = "viewer") -> Session:
        session = self.session(request)
        if session is None:
            raise LoginRequired
        request.scope.setdefault("state", {})["principal"] = session.principal.name
        if not session.principal.allows(role):
            raise HTTPError(
                403,
                "forbidden",
                f"your role ({session.principal.role}) may not do this: it needs {role}",
            )
        return session

    def store(self) -> AuditStore:
        store = self.gate.state.store
        if store is None:
            detail = self.gate.state.errors.get("audit", "the audit store is not open")
            raise HTTPError(503, "audit-unavailable", detail)
        return store

    async def read(self, fn: Callable[[], Any]) -> Any:
        """Blocking store work on the API door's I/O threads (never the event loop)."""
        return await self.gate.offload("api", fn)

    # -- rendering ---------------------------------------------------------------------------
    def base(self, request: Request, session: Session | None, active: str) -> dict[str, Any]:
        return {
            "nav": NAV,
            "active": active,
            "user": session.principal if session else None,
            "csrf": self.sessions.csrf_token(session) if session else "",
            "request_id": request.scope.get("state", {}).get("request_id", ""),
            "error": None,
            "notice": None,
        }

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        active: str,
        status: int = 200,
        **extra: Any,
    ) -> Response:
        context = self.base(request, session, active)
        context.update(extra)
        return self.renderer.page(template, context, status)

    def error_page(self, request: Request, exc: HTTPError) -> Response:
        session = None
        if self._sessions is not None:
            try:
                session = self.session(request)
            except Exception:
                session = None
        context = self.base(request, session, "") if self._sessions else _bare(request)
        context.update(status=exc.status, title=_TITLES.get(exc.status, "Error"))
        context["error"] = exc.detail
        return self.renderer.page("error.html", context, exc.status, exc.headers)


_TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Upload too large",
    415: "Wrong upload type",
    429: "Too many attempts",
    503: "Unavailable",
    507: "Upload spool full",
}


def _bare(request: Request) -> dict[str, Any]:
    return {
        "nav": (),
        "active": "",
        "user": None,
        "csrf": "",
        "request_id": request.scope.get("state", {}).get("request_id", ""),
        "error": None,
        "notice": None,
    }


def login_redirect(request: Request) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    where = "/ui/login" if target in ("/ui/", "/ui") else f"/ui/login?next={quote(target)}"
    return harden(RedirectResponse(where, status_code=303))


def page(ctx: UiContext, view: View) -> View:
    """Wrap a view: errors as HTML pages, security headers, session cookies Secure under TLS."""

    async def endpoint(request: Request) -> Response:
        try:
            if ctx.disabled is not None:
                raise HTTPError(503, "ui-unavailable", ctx.disabled)
            response = await view(request)
        except LoginRequired:
            if request.method == "GET":
                response = login_redirect(request)
            else:
                response = ctx.error_page(
                    request,
                    HTTPError(401, "unauthorized", "your session has ended: sign in again"),
                )
        except HTTPError as exc:
            response = ctx.error_page(request, exc)
        except Exception:
            log.exception(
                "UI page failed",
                extra={"request_id": request.scope.get("state", {}).get("request_id")},
            )
            response = ctx.error_page(
                request, HTTPError(500, "internal-error", "internal error: see the gate's log")
            )
        if is_tls(request):
            _secure_cookies(response)
        return response

    return endpoint


def _secure_cookies(response: Response) -> None:
    raw = response.raw_headers
    for i, (name, value) in enumerate(raw):
        if name == b"set-cookie" and b"; secure" not in value.lower():
            raw[i] = (name, value + b"; Secure")
