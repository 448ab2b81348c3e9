"""`POST /admission/v1/validate[/staging]`: AdmissionReview admission.k8s.io/v1 in, verdict out.

The target env is the path the apiserver called, and nothing else (the README's "Target env"): the
webhook configuration has one entry per env, each selecting namespaces by their
`migrationgate.io/env` label and calling its own path (`ADMISSION_PATHS`). kube-apiserver sends no
namespace labels, so the path is the only carrier; no query parameter, header or field of the
review or object can choose an env, and `/admission/v1/validate` (what every entry that says
nothing calls) is prod. An object claiming another env than its door BLOCKs (`env-mismatch`, the
engine's).

A malformed review is not a denial: it gets HTTP 400 with a message and no decision.
A well-formed review of a gated kind always gets a decision (audited, counted); anything else
(other kinds, DELETE/CONNECT) is allowed untouched, counted but not audited, because the gate
has no opinion on it and the chart's webhook configuration does not send it on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope

from webhook.contracts.decision import Decision, Reason, Scenario
from webhook.contracts.env import Env
from webhook.pipelines import Engine
from webhook.server.admission_types import (
    API_VERSION,
    KIND,
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReviewRequest,
    AdmissionReviewResponse,
    AdmissionUID,
)
from webhook.server.cache import DecisionCache, evaluate, object_key
from webhook.server.direct import DirectRoute
from webhook.server.gate import Gate, door_decision, merge
from webhook.server.http import (
    HTTPError,
    check_length,
    check_media_type,
    json_bytes,
    lone_surrogate_path,
    parse_json,
    read_body,
    read_raw_body,
    require_media_type,
    scope_headers,
)
from webhook.server.logs import AccessLog
from webhook.server.objects import (
    SCENARIO_LABEL,
    Converted,
    ObjectError,
    SnapshotPolicy,
    convert,
    gated_kind,
)

log = logging.getLogger("migration_gate.app")

ADMISSION_PATH = "/admission/v1/validate"
STAGING_ADMISSION_PATH = ADMISSION_PATH + "/staging"
#: the exact paths served and the env each decides for; any other path is a 404, which the
#: apiserver (failurePolicy Fail) turns into a refusal
ADMISSION_PATHS: Mapping[str, Env] = {ADMISSION_PATH: "prod", STAGING_ADMISSION_PATH: "staging"}
MAX_UID = 128
MAX_WARNING = 256
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
#: bodies above this are parsed in a worker thread to keep the event loop responsive
THREAD_PARSE_BYTES = 256 * 1024


class ReviewError(HTTPError):
    def __init__(self, detail: str) -> None:
        super().__init__(400, "invalid-admission-review", detail)


def _str_field(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise ReviewError(f"{where}.{key} must be a string")
    return value


def parse_review(doc: object) -> AdmissionReviewRequest:
    """Strict: the fields the gate relies on are present and typed, or ReviewError (400)."""
    req = _check_envelope(doc)
    _check_identity(req)
    _check_objects(req)
    return doc  # type: ignore[return-value]


def _check_envelope(doc: object) -> dict[str, Any]:
    """apiVersion, kind and the request object of the review itself."""
    if not isinstance(doc, dict):
        raise ReviewError("body must be a JSON object (an AdmissionReview)")
    api_version = doc.get("apiVersion")
    if api_version != API_VERSION:
        raise ReviewError(f"apiVersion must be {API_VERSION} (found {api_version!r})")
    if doc.get("kind") != KIND:
        raise ReviewError(f"kind must be {KIND} (found {doc.get('kind')!r})")
    req = doc.get("request")
    if not isinstance(req, dict):
        raise ReviewError("request must be an object")
    return req


def _check_identity(req: Mapping[str, Any]) -> None:
    """uid, the object's group/version/kind and the operation."""
    uid = req.get("uid")
    if not isinstance(uid, str) or not uid or len(uid) > MAX_UID:
        raise ReviewError(f"request.uid must be a non-empty string of at most {MAX_UID} chars")
    gvk = req.get("kind")
    if not isinstance(gvk, dict):
        raise ReviewError("request.kind must be an object {group, version, kind}")
    _str_field(gvk, "group", "request.kind")
    _str_field(gvk, "version", "request.kind")
    if not _str_field(gvk, "kind", "request.kind"):
        raise ReviewError("request.kind.kind must not be empty")
    op = req.get("operation")
    if op not in OPERATIONS:
        raise ReviewError(
            f"request.operation must be one of {', '.join(OPERATIONS)} (found {op!r})"
        )


def _check_objects(req: Mapping[str, Any]) -> None:
    """object and oldObject (objects or null, with object metadata) and dryRun."""
    for key in ("object", "oldObject"):
        if req.get(key) is not None and not isinstance(req[key], dict):
            raise ReviewError(f"request.{key} must be an object or null")
        meta = req[key].get("metadata") if isinstance(req.get(key), dict) else None
        if meta is not None and not isinstance(meta, dict):
            raise ReviewError(f"request.{key}.metadata must be an object")
    if "dryRun" in req and not isinstance(req["dryRun"], bool):
        raise ReviewError("request.dryRun must be a boolean")


def reason_text(reason: Reason, *, with_file: bool = True) -> str:
    """`[policy] file: field: message` (file omitted for warnings, which must stay short)."""
    parts = [p for p in ((reason.file if with_file else None), reason.field) if p]
    where = ": ".join(parts)
    return (
        f"[{reason.policy}] {where}: {reason.message}"
        if where
        else f"[{reason.policy}] {reason.message}"
    )


def _short(text: str) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= MAX_WARNING else text[: MAX_WARNING - 3] + "..."


def build_response(uid: AdmissionUID, decision: Decision | None) -> AdmissionReviewResponse:
    """Pure: the AdmissionReview response for a decision (None = allowed untouched)."""
    response: AdmissionResponse = {"uid": uid, "allowed": True}
    if decision is not None:
        warnings = [_short(reason_text(w, with_file=False)) for w in decision.warnings]
        if warnings:
            response["warnings"] = warnings
        if not decision.allowed:
            lines = [reason_text(r) for r in decision.reasons]
            head = (
                f"migration-gate BLOCK ({decision.scenario}, request {decision.request_id}, "
                f"{len(lines)} reason{'s' if len(lines) != 1 else ''}):"
            )
            response["allowed"] = False
            response["status"] = {
                "code": 403,
                "reason": "Forbidden",
                "message": "\n".join([head, *lines]),
            }
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}


def response_bytes(review: AdmissionReviewResponse) -> bytes:
    """`json_bytes(review)` by orjson: byte-identical for the strings, bools and ints it holds.

    orjson refuses a lone surrogate (possible only in a uid the stdlib parser let through);
    `json_bytes` then fails on it exactly as it always did.
    """
    try:
        return orjson.dumps(review)
    except orjson.JSONEncodeError:
        return json_bytes(review)


class AdmissionDoor:
    """The endpoint, bound to a Gate and the admission settings."""

    def __init__(
        self,
        gate: Gate,
        *,
        max_body: int,
        deadline: float,
        snapshots: SnapshotPolicy,
    ) -> None:
        self.gate = gate
        self.cache = gate.cache
        self.max_body = max_body
        self.deadline = deadline
        self.snapshots = snapshots

    async def validate(self, request: Request) -> Response:
        """The Starlette endpoint (same answer as `AdmissionApp`'s direct path)."""
        env = path_env(request.scope["path"])
        require_media_type(request, "application/json")
        body = await read_body(request, self.max_body)
        content = await self.answer(body, request.scope.setdefault("state", {}), env=env)
        return Response(content, media_type="application/json")

    async def validate_raw(self, scope: Scope, receive: Receive, state: dict[str, Any]) -> bytes:
        """`validate` on raw ASGI: same checks in the same order, same errors."""
        env = path_env(scope["path"])
        content_type, length = scope_headers(scope, b"content-type", b"content-length")
        check_media_type((content_type or "").split(";", 1)[0].strip().lower(), "application/json")
        check_length(length, self.max_body)
        body = await read_raw_body(receive, self.max_body)
        return await self.answer(body, state, env=env)

    async def answer(self, body: bytes, state: dict[str, Any], *, env: Env) -> bytes:
        """The AdmissionReview response body for a request body to the `env` door;
        `state["decision"]` set."""
        try:
            if len(body) > THREAD_PARSE_BYTES:
                doc, plain = await self.gate.offload("admission", lambda: parse_json(body))
            else:
                doc, plain = parse_json(body)
        except (ValueError, RecursionError) as exc:
            raise ReviewError(f"body is not valid JSON: {exc}") from None
        where = None if plain else lone_surrogate_path(doc)  # orjson refuses them: plain has none
        if where is not None:
            raise ReviewError(f"{where} holds a lone surrogate: text must be valid Unicode")
        review = parse_review(doc)
        req = review["request"]
        decision = await self.review(req, env=env, plain=plain)
        state["decision"] = decision.decision if decision is not None else "SKIP"
        return response_bytes(build_response(req["uid"], decision))

    async def review(
        self, req: AdmissionRequest, *, env: Env, plain: bool = False
    ) -> Decision | None:
        """The decision for a parsed request to the `env` door (None: not gated).

        `env` is required: only the path the apiserver called may say it. `plain`: see
        `parse_json`."""
        gvk = req["kind"]
        obj = req.get("object")
        op = req["operation"]
        kind = gated_kind(gvk["group"], gvk["version"], gvk["kind"], obj)
        if kind is None or op not in ("CREATE", "UPDATE"):
            self.gate.metrics.admission_skipped.labels(kind or "other", op).inc()
            return None
        uid = req["uid"]
        dry_run = bool(req.get("dryRun", False))
        key = self._object_key(kind, obj, dry_run, plain, env)
        if key is not None:
            hit = self.cache.get(key, uid)
            if hit is not None:  # same spec/data seen: no conversion, no engine, no thread hop
                return await self.gate.decide(
                    _never, scenario=hit.scenario, request_id=uid, source="admission",
                    dry_run=dry_run, budget=self.deadline, hit=hit,
                )  # fmt: skip
        try:
            if obj is None:
                raise ObjectError(
                    "T2" if kind == "ReplicationRequest" else "T1",
                    "request.object",
                    f"{op} of a {kind} carries no object",
                )
            if kind == "ReplicationRequest":  # resolves and stats files: not on the loop
                converted = await self.gate.offload(
                    "admission", lambda: convert(kind, obj, self.snapshots)
                )
            else:
                converted = convert(kind, obj, self.snapshots)
        except ObjectError as exc:
            return await self._deny_shape(uid, exc, dry_run, env)
        except (AttributeError, TypeError, KeyError) as exc:
            scenario: Scenario = "T2" if kind == "ReplicationRequest" else "T1"
            err = ObjectError(scenario, "object", f"unreadable {kind}: {type(exc).__name__}")
            return await self._deny_shape(uid, err, dry_run, env)
        return await self.gate.decide(
            _runner(converted, uid, dry_run, self.cache, key, env=env),
            scenario=converted.scenario,
            request_id=uid,
            source="admission",
            dry_run=dry_run,
            # a door-made BLOCK (gate unconfigured, deadline backstop) names the door's env, never
            # the env the object claims
            subject={**converted.subject, "env": env},
            budget=self.deadline,
        )

    def _object_key(
        self, kind: str, obj: Mapping[str, Any] | None, dry_run: bool, plain: bool, env: Env
    ) -> str | None:
        if obj is None or self.cache.ttl <= 0 or self.gate.state.engine is None:
            return None
        label = None
        if kind == "ConfigMap":
            label = obj["metadata"]["labels"][SCENARIO_LABEL]  # gated_kind checked the path
        return object_key(
            kind, obj, label=label, bundle=self.gate.cache_id, dry_run=dry_run, env=env, plain=plain
        )

    async def _deny_shape(self, uid: str, exc: ObjectError, dry_run: bool, env: Env) -> Decision:
        reason = Reason(
            policy="input-invalid", severity="high", field=exc.field, message=exc.message
        )
        decision = door_decision(
            exc.scenario, uid, [reason], bundle=self.gate.bundle, dry_run=dry_run, step="object",
            subject={"env": env},
        )  # fmt: skip

        def run(_engine: Engine, _deadline: float | None) -> Decision:
            return decision

        return await self.gate.decide(
            run,
            scenario=exc.scenario,
            request_id=uid,
            source="admission",
            dry_run=dry_run,
            subject={"env": env},
            budget=self.deadline,
        )


class AdmissionApp(DirectRoute):
    """The admission listener: `POST` to each of `ADMISSION_PATHS` served straight on ASGI.

    Same behaviour as the Starlette route (body limit 413, media type 415, malformed review 400,
    `X-Request-ID`, duration metric, one access line) without its per-request stack; every
    other request (404, 405, ...) goes to the Starlette `fallback`.
    """

    path = ADMISSION_PATH

    def __init__(self, door: AdmissionDoor, fallback: ASGIApp, access: AccessLog) -> None:
        super().__init__(fallback, access)
        self.door = door

    def serves(self, path: str) -> bool:
        return path in ADMISSION_PATHS

    async def handle(
        self, scope: Scope, receive: Receive, state: dict[str, Any]
    ) -> tuple[int, bytes]:
        return 200, await self.door.validate_raw(scope, receive, state)


def path_env(path: str) -> Env:
    """The env an admission path decides for; only the exact served paths have one."""
    env = ADMISSION_PATHS.get(path)
    if env is None:  # routing sends nothing else here; refuse rather than guess
        raise HTTPError(404, "not-found", f"no admission webhook at {path[:64]!r}")
    return env


def _never(_engine: Engine, _deadline: float | None) -> Decision:
    raise AssertionError("a cache hit never runs the engine")


def _runner(
    converted: Converted,
    request_id: str,
    dry_run: bool,
    cache: DecisionCache,
    key: str | None,
    *,
    env: Env,
) -> Callable[[Engine, float | None], Decision]:
    """Engine + door reasons/warnings merged; remembered under the object key when there is one."""
    inputs = converted.inputs

    def run(engine: Engine, deadline: float | None) -> Decision:
        decision = evaluate(
            engine, inputs, request_id=request_id, dry_run=dry_run, deadline=deadline,
            cache=cache, env=env,
        )  # fmt: skip
        decision = merge(decision, converted.reasons, converted.warnings)
        if key is not None:
            cache.put(key, decision)
        return decision

    return run
