"""The UI's routes, mounted on the operator API listener (`build_apps`), and `/` -> `/ui/`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from webhook.errors import ConfigError
from webhook.server.api import ApiDoor
from webhook.server.auth import TokenStore
from webhook.server.gate import Gate
from webhook.server.http import HTTPError
from webhook.ui.alert_views import AlertViews
from webhook.ui.audit_views import AuditViews
from webhook.ui.auth_views import AuthViews
from webhook.ui.context import UI_PREFIX, UiContext, page
from webhook.ui.dashboard import DashboardView
from webhook.ui.keys import load_session_key
from webhook.ui.security import harden
from webhook.ui.sessions import Sessions
from webhook.ui.validate_views import ValidateViews

log = logging.getLogger("migration_gate.ui")
STATIC = Path(__file__).parent / "static"
#: the only static files: name -> media type (read once at start)
FILES = {"ui.css": "text/css", "favicon.svg": "image/svg+xml"}


def _context(
    gate: Gate, door: ApiDoor, tokens: TokenStore | None, state_dir: Path,
    environ: Mapping[str, str] | None,
) -> UiContext:  # fmt: skip
    try:
        key = load_session_key(state_dir, environ)
    except ConfigError as exc:
        why = f"the UI is off: {exc.diagnostics()}"
        log.error("%s", why, extra={"event": "config-invalid", "component": "ui"})
        return UiContext(gate, door, None, disabled=why)
    return UiContext(gate, door, Sessions(key, tokens))


def build_ui_routes(
    gate: Gate,
    door: ApiDoor,
    tokens: TokenStore | None,
    state_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
) -> list[BaseRoute]:
    """Every UI route. An unusable session key leaves the pages answering 503 with the reason
    (the gate's doors keep deciding), logged at start."""
    ctx = _context(gate, door, tokens, state_dir, environ)
    auth = AuthViews(ctx)
    validate = ValidateViews(ctx)
    audit = AuditViews(ctx)
    alerts = AlertViews(ctx)
    dashboard = DashboardView(ctx)
    files = {name: (STATIC / name).read_bytes() for name in FILES}

    def static(name: str) -> Route:
        async def serve(request: Request) -> Response:
            response = Response(files[name], media_type=FILES[name])
            response.headers["Cache-Control"] = "public, max-age=3600"
            return harden(response, no_store=False)

        return Route(f"{UI_PREFIX}/static/{name}", serve, methods=["GET"])

    async def favicon(request: Request) -> Response:
        return harden(
            RedirectResponse(f"{UI_PREFIX}/static/favicon.svg", status_code=301), no_store=False
        )

    async def home(request: Request) -> Response:
        return harden(RedirectResponse(f"{UI_PREFIX}/", status_code=303))

    async def not_found(request: Request) -> Response:
        raise HTTPError(404, "not-found", f"no page at {request.url.path[:80]}")

    def r(path: str, view: object, methods: list[str]) -> Route:
        return Route(f"{UI_PREFIX}{path}", page(ctx, view), methods=methods)  # type: ignore[arg-type]

    return [
        Route("/", home, methods=["GET"]),
        Route(UI_PREFIX, home, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        *(static(name) for name in FILES),
        r("/", dashboard.show, ["GET"]),
        r("/login", auth.login_form, ["GET"]),
        r("/login", auth.login, ["POST"]),
        r("/logout", auth.logout, ["POST"]),
        r("/migration", validate.migration_form, ["GET"]),
        r("/migration", validate.migration, ["POST"]),
        r("/replication", validate.replication_form, ["GET"]),
        r("/replication", validate.replication, ["POST"]),
        r("/audit", audit.listing, ["GET"]),
        r("/audit/{seq}", audit.record, ["GET"]),
        r("/alerts", alerts.listing, ["GET"]),
        r("/alerts/{alert_id}/ack", alerts.ack, ["POST"]),
        r("/{rest:path}", not_found, ["GET", "POST"]),
    ]
