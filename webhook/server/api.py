"""Operator API: validate via multipart uploads, read the audit log and alerts, ack alerts.

Decisions come back as the canonical Decision JSON (same bytes as the CLI's `--output json`,
apart from request id and timestamp): 200 for ALLOW, 422 for BLOCK. Requests that never reach a
decision (auth, malformed multipart, bad query) get `{"error", "detail"}` JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from webhook.audit import AuditQuery
from webhook.audit.errors import AlertNotFoundError
from webhook.audit.models import MAX_QUERY_LIMIT
from webhook.contracts.decision import Decision
from webhook.errors import GateError
from webhook.pipelines import Engine, MigrationInputs, ReplicationInputs
from webhook.pipelines.inputs import (
    ATTESTATION_FILE,
    CONFIG_FILE,
    MANIFEST_FILE,
    MANIFEST_SIGNATURE_FILE,
    REPLICATION_FILE,
    SNAPSHOT_FILE,
    WAL_DIR,
)
from webhook.server.auth import Principal, Role, TokenStore, bearer_token
from webhook.server.cache import cache_key, evaluate
from webhook.server.gate import Gate
from webhook.server.http import HTTPError, json_response
from webhook.server.uploads import Upload, receive_multipart

MIGRATION_PARTS = frozenset({MANIFEST_FILE, CONFIG_FILE, MANIFEST_SIGNATURE_FILE})
REPLICATION_PARTS = frozenset({REPLICATION_FILE, SNAPSHOT_FILE, ATTESTATION_FILE})
AUDIT_FILTERS = (
    "since", "until", "scenario", "decision", "source", "env", "subject", "request_id", "dry_run",
)  # fmt: skip
MAX_LIMIT = MAX_QUERY_LIMIT
DEFAULT_LIMIT = 50


def decision_response(decision: Decision) -> Response:
    return Response(
        decision.to_json().encode("utf-8"),
        status_code=200 if decision.allowed else 422,
        media_type="application/json",
    )


class Authorizer:
    """Resolves the bearer token to a Principal and enforces the role a route needs."""

    def __init__(self, tokens: TokenStore | None) -> None:
        self.tokens = tokens

    def __call__(self, request: Request, needed: Role) -> Principal:
        challenge = {"WWW-Authenticate": 'Bearer realm="migration-gate"'}
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise HTTPError(
                401,
                "unauthorized",
                "missing bearer token (Authorization: Bearer <token>)",
                challenge,
            )
        principal = self.tokens.authenticate(token) if self.tokens is not None else None
        if principal is None:
            challenge["WWW-Authenticate"] += ', error="invalid_token"'
            raise HTTPError(401, "unauthorized", "invalid bearer token", challenge)
        if not principal.allows(needed):
            raise HTTPError(
                403, "forbidden", f"role {principal.role} may not do this (needs {needed})"
            )
        _state(request)["principal"] = principal.name
        return principal


def _query_bool(name: str, raw: str) -> bool:
    low = raw.lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise HTTPError(400, "bad-query", f"{name} must be true or false (found {raw[:32]!r})")


def _limit(request: Request, default: int = DEFAULT_LIMIT) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise HTTPError(400, "bad-query", f"limit must be 1..{MAX_LIMIT} (found {raw[:32]!r})")
    return int(raw)


def _jsonable(obj: Any) -> Any:
    dump: Callable[..., Any] | None = getattr(obj, "model_dump", None)
    return dump(mode="json") if dump is not None else obj


class ApiDoor:
    def __init__(
        self,
        gate: Gate,
        authorize: Authorizer,
        *,
        tmp_dir: Any,
        max_upload: int,
        max_small_part: int,
    ) -> None:
        self.gate = gate
        self.authorize = authorize
        self.tmp_dir = tmp_dir
        self.max_upload = max_upload
        self.max_small_part = max_small_part

    def _store(self) -> Any:
        store = self.gate.state.store
        if store is None:
            detail = self.gate.state.errors.get("audit", "audit store is not open")
            raise HTTPError(503, "audit-unavailable", detail)
        return store

    async def _receive(
        self, request: Request, allowed: frozenset[str], to_disk: frozenset[str], wal: str | None
    ) -> Upload:
        return await receive_multipart(
            request,
            tmp_root=self.tmp_dir,
            allowed=allowed,
            to_disk=to_disk,
            wal_field=wal,
            max_total=self.max_upload,
            max_small_part=self.max_small_part,
        )

    async def validate_migration(self, request: Request) -> Response:
        self.authorize(request, "operator")
        upload = await self._receive(request, MIGRATION_PARTS, frozenset(), None)
        try:
            parts = upload.files
            inputs = MigrationInputs(
                manifest=_small(parts.get(MANIFEST_FILE)),
                config=_small(parts.get(CONFIG_FILE)),
                signature=_small(parts.get(MANIFEST_SIGNATURE_FILE)),
            )
            request_id: str = _state(request)["request_id"]
            cache = self.gate.cache

            def run(engine: Engine, deadline: float | None) -> Decision:
                return evaluate(
                    engine, inputs, request_id=request_id, dry_run=False, deadline=deadline,
                    cache=cache,
                )  # fmt: skip

            # the parts are the inputs: a hit is found on the loop, with no thread hop
            hit = None
            if cache.ttl > 0 and self.gate.state.engine is not None:
                key = cache_key(inputs, bundle=self.gate.bundle, dry_run=False)
                hit = cache.get(key, request_id) if key is not None else None
            decision = await self.gate.decide(
                run, scenario="T1", request_id=request_id, source="api", dry_run=False, hit=hit
            )
        finally:
            await upload.close()
        _state(request)["decision"] = decision.decision
        return decision_response(decision)

    async def validate_replication(self, request: Request) -> Response:
        self.authorize(request, "operator")
        upload = await self._receive(
            request, REPLICATION_PARTS, frozenset({SNAPSHOT_FILE}), WAL_DIR
        )
        try:
            parts = upload.files
            snapshot = parts.get(SNAPSHOT_FILE)
            inputs = ReplicationInputs(
                manifest=_small(parts.get(REPLICATION_FILE)),
                snapshot=snapshot.path if snapshot is not None else None,
                wal_files={name: part.value() for name, part in upload.wal.items()},
                attestation=_small(parts.get(ATTESTATION_FILE)),
            )
            request_id: str = _state(request)["request_id"]

            def run(engine: Engine, deadline: float | None) -> Decision:
                return engine.validate_replication(inputs, request_id=request_id, deadline=deadline)

            decision = await self.gate.decide(
                run, scenario="T2", request_id=request_id, source="api", dry_run=False
            )
        finally:
            await upload.close()
        _state(request)["decision"] = decision.decision
        return decision_response(decision)

    async def audit_logs(self, request: Request) -> Response:
        self.authorize(request, "viewer")
        params: dict[str, Any] = {}
        for name in AUDIT_FILTERS:
            raw = request.query_params.get(name)
            if raw is None or raw == "":
                continue
            params[name] = _query_bool(name, raw) if name == "dry_run" else raw
        unknown = set(request.query_params) - {*AUDIT_FILTERS, "limit", "cursor"}
        if unknown:
            raise HTTPError(
                400, "bad-query", f"unknown query parameter(s): {', '.join(sorted(unknown))}"
            )
        params["limit"] = _limit(request)
        if request.query_params.get("cursor"):
            params["cursor"] = request.query_params["cursor"]
        try:
            query = AuditQuery(**params)
        except (ValidationError, ValueError, TypeError) as exc:
            raise HTTPError(400, "bad-query", _first_error(exc)) from None
        store = self._store()
        try:
            page = await asyncio.to_thread(store.query, query)
        except AlertNotFoundError as exc:  # pragma: no cover - not raised by query
            raise HTTPError(404, "not-found", exc.diagnostics()) from None
        except GateError as exc:  # e.g. a cursor that does not decode
            raise HTTPError(400, "bad-query", exc.diagnostics()) from None
        return json_response(
            {
                "records": [_jsonable(r) for r in page.records],
                "next_cursor": page.next_cursor,
            }
        )

    async def alerts(self, request: Request) -> Response:
        self.authorize(request, "viewer")
        unknown = set(request.query_params) - {"status", "limit", "cursor"}
        if unknown:
            raise HTTPError(
                400, "bad-query", f"unknown query parameter(s): {', '.join(sorted(unknown))}"
            )
        status = request.query_params.get("status") or None
        cursor = request.query_params.get("cursor") or None
        limit = _limit(request)
        store = self._store()
        try:
            page = await asyncio.to_thread(
                store.alerts.list, status=status, limit=limit, cursor=cursor
            )
        except GateError as exc:
            raise HTTPError(400, "bad-query", exc.diagnostics()) from None
        return json_response(
            {"alerts": [_jsonable(a) for a in page.alerts], "next_cursor": page.next_cursor}
        )

    async def ack_alert(self, request: Request) -> Response:
        principal = self.authorize(request, "operator")
        alert_id: int = request.path_params["alert_id"]
        store = self._store()
        try:
            alert = await asyncio.to_thread(store.alerts.ack, alert_id, principal.name)
        except AlertNotFoundError:
            raise HTTPError(404, "not-found", f"no alert with id {alert_id}") from None
        except GateError as exc:
            raise HTTPError(400, "bad-request", exc.diagnostics()) from None
        return json_response(_jsonable(alert))


def _state(request: Request) -> dict[str, Any]:
    """The per-request state dict (RequestContext's); plain dict access, no State wrapper."""
    state: dict[str, Any] = request.scope.setdefault("state", {})
    return state


def _small(part: Any) -> bytes | None:
    if part is None:
        return None
    value = part.value()
    return value if isinstance(value, bytes) else None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ()))
        return f"{loc}: {err.get('msg')}" if loc else str(err.get("msg"))
    return str(exc)
