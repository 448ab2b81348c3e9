"""Builds the three Starlette apps (admission, operator API, metrics/health) from explicit parts.

No globals: settings, the gate state (engine, audit store), tokens and metrics are handed in, so
a test can build several independent apps in one process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from webhook.pipelines import Engine
from webhook.server.admission import ADMISSION_PATHS, AdmissionDoor
from webhook.server.api import MIGRATION_PATH, REPLICATION_PATH, ApiDoor, Authorizer
from webhook.server.auth import TokenStore
from webhook.server.direct import DirectRoute, route
from webhook.server.gate import Gate, GateState
from webhook.server.http import HTTPError, error_response, json_response
from webhook.server.logs import AccessLog, RequestContext
from webhook.server.metrics import GateMetrics
from webhook.server.objects import SnapshotPolicy
from webhook.server.openapi import openapi_document
from webhook.server.settings import ServerSettings
from webhook.server.tls import ReloadingCertificate
from webhook.server.uploads import SpoolBudget
from webhook.ui import build_ui_routes

log = logging.getLogger("migration_gate.app")


@dataclass
class GateApps:
    admission: ASGIApp
    api: ASGIApp
    ops: Starlette
    gate: Gate
    metrics: GateMetrics
    certs: dict[str, ReloadingCertificate] = field(default_factory=dict)


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPError):
        return error_response(exc)
    return await _internal_error(request, exc)


async def _starlette_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    names = {404: "not-found", 405: "method-not-allowed"}
    detail = exc.detail if isinstance(exc, StarletteHTTPException) else "error"
    return json_response({"error": names.get(status, "http-error"), "detail": detail}, status)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception(
        "unhandled error", extra={"request_id": request.scope.get("state", {}).get("request_id")}
    )
    return json_response(
        {"error": "internal-error", "detail": f"internal error ({type(exc).__name__})"}, 500
    )


def _starlette(routes: Sequence[BaseRoute]) -> Starlette:
    app = Starlette(
        routes=list(routes),
        exception_handlers={
            HTTPError: _http_error,
            StarletteHTTPException: _starlette_error,
            Exception: _internal_error,
        },
    )
    # no trailing-slash redirect: Starlette builds its Location from the client's Host header
    app.router.redirect_slashes = False
    return app


def trust_status(engine: Engine | None) -> str:
    """`ok`, or why prod cannot ALLOW: no usable key (or fewer than the policy's threshold).

    An empty trust store is no trust (docs/threat-model.md): every prod decision BLOCKs, so a
    gate without keys is not ready to serve prod, and /readyz says so instead of "ok"."""
    if engine is None:
        return "not loaded"
    keys = len(engine.trust_store)
    if keys == 0:
        return (
            "trust store empty: every prod decision BLOCKs; "
            "configure --trust-dir with the signers' public keys"
        )
    if keys < engine.threshold:
        return (
            f"trust store holds {keys} key(s), fewer than the signature threshold "
            f"{engine.threshold}: every prod decision BLOCKs; add keys to --trust-dir"
        )
    return "ok"


class Health:
    """/livez, /readyz and /metrics on the plain metrics listener (never on a TLS door)."""

    def __init__(
        self,
        gate: Gate,
        metrics: GateMetrics,
        certs: Mapping[str, ReloadingCertificate],
        *,
        allow_empty_trust: bool = False,
    ):
        self.gate = gate
        self.metrics = metrics
        self.certs = certs
        #: --allow-empty-trust: a keyless trust store is reported but does not make it unready
        self.allow_empty_trust = allow_empty_trust

    async def livez(self, request: Request) -> Response:
        return json_response({"status": "alive"})

    async def readyz(self, request: Request) -> Response:
        state = self.gate.state
        components: dict[str, str] = {}
        components["policy"] = state.errors.get("policy", "ok" if state.engine else "not loaded")
        components["trust"] = state.errors.get("trust") or trust_status(state.engine)
        waived = self.allow_empty_trust and state.engine is not None and "trust" not in state.errors
        if waived and components["trust"] != "ok":
            components["trust"] += " (ready anyway: --allow-empty-trust)"
        if state.store is None:
            components["audit"] = state.errors.get("audit", "not open")
        else:
            try:
                await self.gate.offload("metrics", state.store.check_writable)
                components["audit"] = "ok"
            except Exception as exc:  # AuditWriteError or anything else: not ready
                components["audit"] = f"not writable: {exc}"
        for name, cert in self.certs.items():
            await self.gate.offload("metrics", cert.current)  # a rotation between handshakes
            info = cert.info
            components[f"tls-{name}"] = (
                f"certificate expired at {info.not_after.isoformat()}" if info.expired else "ok"
            )
        ready = all(v == "ok" or (k == "trust" and waived) for k, v in components.items())
        engine = state.engine  # the engine deciding now (a reload swaps this reference)
        refused = state.refused
        body: dict[str, object] = {
            "status": "ready" if ready else "not-ready",
            "components": components,
            # what decides now, and whether a newer bundle/trust store was refused (the last
            # good one kept deciding: still ready, but an operator must see it)
            "bundle": engine.bundle_digest if engine is not None else None,
            "trusted_keys": len(engine.trust_store) if engine is not None else 0,
            "reload": {"status": "ok"}
            if refused is None
            else {
                "status": "refused", "what": refused.what, "file": refused.file,
                "error": refused.error, "at": refused.at,
            },
        }  # fmt: skip
        return json_response(body, 200 if ready else 503)

    async def metrics_endpoint(self, request: Request) -> Response:
        body, ctype = self.metrics.exposition()
        return Response(body, media_type=ctype.split(";")[0], headers={"Content-Type": ctype})


def build_apps(
    settings: ServerSettings,
    state: GateState,
    tokens: TokenStore | None,
    *,
    metrics: GateMetrics | None = None,
    certs: Mapping[str, ReloadingCertificate] | None = None,
    extra_api_routes: Sequence[BaseRoute] = (),
    environ: Mapping[str, str] | None = None,
) -> GateApps:
    """Wire doors to one Gate. The UI's pages go on the API port under /ui/ (`/` redirects
    there); `environ` (default os.environ) is where the UI looks for its session key file."""
    metrics = metrics or GateMetrics()
    if state.engine is not None:
        metrics.prime((p.id, p.severity) for p in state.engine.bundle.policies)
    certs = dict(certs or {})
    api_budget = settings.api_deadline
    gate = Gate(
        state, metrics, threads=settings.engine_threads, api_threads=settings.api_threads,
        cache_ttl=settings.decision_cache_ttl,
        budgets={"admission": settings.admission_deadline, "api": api_budget, "ui": api_budget},
    )  # fmt: skip
    admission = AdmissionDoor(
        gate,
        max_body=settings.max_body,
        deadline=settings.admission_deadline,
        snapshots=SnapshotPolicy(settings.snapshot_root, settings.snapshot_max_bytes),
    )
    authorize = Authorizer(tokens)
    api = ApiDoor(
        gate,
        authorize,
        tmp_dir=settings.tmp_dir,
        max_upload=settings.max_upload,
        max_small_part=settings.max_small_part,
        spool_budget=SpoolBudget(settings.spool_max_bytes),
    )
    doc = openapi_document()

    async def openapi(request: Request) -> Response:
        return json_response(doc)

    health = Health(gate, metrics, certs, allow_empty_trust=settings.allow_empty_trust)
    # one route per path; the hot POSTs are also served straight on ASGI by the same handler
    admission_app = _starlette([route(path, admission.handle) for path in ADMISSION_PATHS])
    api_app = _starlette(
        [
            route(MIGRATION_PATH, api.handle_migration),
            route(REPLICATION_PATH, api.handle_replication),
            Route("/api/v1/audit/logs", api.audit_logs, methods=["GET"]),
            Route("/api/v1/alerts", api.alerts, methods=["GET"]),
            Route("/api/v1/alerts/{alert_id}/ack", api.ack_alert, methods=["POST"]),
            Route("/api/v1/openapi.json", openapi, methods=["GET"]),
            *extra_api_routes,
            *build_ui_routes(gate, api, tokens, settings.state_dir, environ=environ),
        ]
    )
    ops_app = _starlette(
        [
            Route("/metrics", health.metrics_endpoint, methods=["GET"]),
            Route("/livez", health.livez, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
        ]
    )
    admission_app.add_middleware(RequestContext, door="admission", metrics=metrics)
    api_app.add_middleware(RequestContext, door="api", metrics=metrics)
    ops_app.add_middleware(RequestContext, door="metrics", metrics=metrics)
    return GateApps(
        admission=DirectRoute(
            admission.handle,
            admission_app,
            AccessLog("admission", metrics),
            paths=tuple(ADMISSION_PATHS),
        ),
        api=DirectRoute(
            api.handle_migration, api_app, AccessLog("api", metrics), paths=(MIGRATION_PATH,)
        ),
        ops=ops_app,
        gate=gate,
        metrics=metrics,
        certs=certs,
    )
