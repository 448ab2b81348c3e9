"""Login and logout: a token becomes a signed session cookie; the token is never kept."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from webhook.server.http import HTTPError
from webhook.ui.context import CSRF_FIELD, UiContext
from webhook.ui.forms import small_form
from webhook.ui.security import harden, same_origin
from webhook.ui.sessions import LOGIN_COOKIE, LOGIN_TTL, SESSION_COOKIE

log = logging.getLogger("migration_gate.ui")
FAILED = "Sign-in failed. Check the token and try again."


def _next(target: str | None) -> str:
    """Only a path of this UI: never an open redirect."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


class AuthViews:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    def _form(self, request: Request, status: int = 200, error: str | None = None) -> Response:
        cookie, nonce = self.ctx.sessions.login_nonce()
        response = self.ctx.render(
            request, "login.html", None, "login", status, error=error, login_nonce=nonce,
            next=_next(request.query_params.get("next")),
        )  # fmt: skip
        response.set_cookie(
            LOGIN_COOKIE, cookie, max_age=LOGIN_TTL, path="/ui/login", httponly=True,
            samesite="strict",
        )  # fmt: skip
        return response

    async def login_form(self, request: Request) -> Response:
        if self.ctx.session(request) is not None:
            return harden(RedirectResponse("/ui/", status_code=303))
        return self._form(request)

    async def login(self, request: Request) -> Response:
        if not same_origin(request):
            raise HTTPError(403, "cross-site", "cross-site form posts are refused")
        client = _client(request)
        wait = self.ctx.limiter.retry_after(client)
        if wait:
            raise HTTPError(
                429, "too-many-attempts", f"too many failed sign-ins: try again in {wait} s",
                {"Retry-After": str(wait)},
            )  # fmt: skip
        form = await small_form(request)
        if not self.ctx.sessions.login_ok(request.cookies.get(LOGIN_COOKIE), form.get(CSRF_FIELD)):
            raise HTTPError(
                403, "csrf", "the sign-in form expired or did not come from this page: reload it"
            )
        token = form.get("token", "").strip()
        tokens = self.ctx.sessions.tokens
        principal = tokens.authenticate(token) if tokens is not None and token else None
        if principal is None:
            self.ctx.limiter.failed(client)
            log.warning("UI sign-in failed", extra={"event": "ui-login-failed", "client": client})
            return self._form(request, 401, FAILED)
        self.ctx.limiter.succeeded(client)
        log.info(
            "UI sign-in", extra={"event": "ui-login", "principal": principal.name, "client": client}
        )
        response = harden(RedirectResponse(_next(form.get("next")), status_code=303))
        response.set_cookie(
            SESSION_COOKIE, self.ctx.sessions.issue(principal, token),
            max_age=self.ctx.sessions.ttl, path="/ui", httponly=True, samesite="strict",
        )  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE, path="/ui/login", httponly=True, samesite="strict")
        return response

    async def logout(self, request: Request) -> Response:
        if not same_origin(request):
            raise HTTPError(403, "cross-site", "cross-site form posts are refused")
        session = self.ctx.require(request)
        form = await small_form(request)
        if not self.ctx.sessions.csrf_ok(session, form.get(CSRF_FIELD)):
            raise HTTPError(403, "csrf", "missing or wrong CSRF token: reload the page")
        response = harden(RedirectResponse("/ui/login", status_code=303))
        response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")
        return response
