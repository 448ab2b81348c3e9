"""`POST /admission/v1/validate`: AdmissionReview admission.k8s.io/v1 in, verdict out.

A malformed review is not a denial (STYLE 5): it gets HTTP 400 with a message and no decision.
A well-formed review of a gated kind always gets a decision (audited, counted); anything else
(other kinds, DELETE/CONNECT) is allowed untouched, counted but not audited, because the gate
has no opinion on it and DESIGN's webhook configuration does not send it on purpose.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from webhook.contracts.decision import Decision, Reason, Scenario
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
from webhook.server.cache import DecisionCache, evaluate
from webhook.server.gate import Gate, door_decision
from webhook.server.http import HTTPError, json_response, read_body, require_media_type
from webhook.server.objects import (
    Converted,
    ObjectError,
    SnapshotPolicy,
    convert,
    gated_kind,
)

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
    for key in ("object", "oldObject"):
        if req.get(key) is not None and not isinstance(req[key], dict):
            raise ReviewError(f"request.{key} must be an object or null")
    if "dryRun" in req and not isinstance(req["dryRun"], bool):
        raise ReviewError("request.dryRun must be a boolean")
    return doc  # type: ignore[return-value]


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
        require_media_type(request, "application/json")
        body = await read_body(request, self.max_body)
        try:
            if len(body) > THREAD_PARSE_BYTES:
                doc = await asyncio.to_thread(json.loads, body)
            else:
                doc = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ReviewError(f"body is not valid JSON: {exc}") from None
        review = parse_review(doc)
        req = review["request"]
        decision = await self.review(req)
        request.state.decision = decision.decision if decision is not None else "SKIP"
        return json_response(build_response(req["uid"], decision))

    async def review(self, req: AdmissionRequest) -> Decision | None:
        gvk = req["kind"]
        obj = req.get("object")
        op = req["operation"]
        kind = gated_kind(gvk["group"], gvk["version"], gvk["kind"], obj)
        if kind is None or op not in ("CREATE", "UPDATE"):
            self.gate.metrics.admission_skipped.labels(kind or "other", op).inc()
            return None
        uid = req["uid"]
        dry_run = bool(req.get("dryRun", False))
        try:
            if obj is None:
                raise ObjectError(
                    "T2" if kind == "ReplicationRequest" else "T1",
                    "request.object",
                    f"{op} of a {kind} carries no object",
                )
            if kind == "ReplicationRequest":  # resolves and stats files: not on the loop
                converted = await asyncio.to_thread(convert, kind, obj, self.snapshots)
            else:
                converted = convert(kind, obj, self.snapshots)
        except ObjectError as exc:
            return await self._deny_shape(uid, exc, dry_run)
        except (AttributeError, TypeError, KeyError) as exc:
            scenario: Scenario = "T2" if kind == "ReplicationRequest" else "T1"
            err = ObjectError(scenario, "object", f"unreadable {kind}: {type(exc).__name__}")
            return await self._deny_shape(uid, err, dry_run)
        return await self.gate.decide(
            _runner(converted, uid, dry_run, self.cache),
            scenario=converted.scenario,
            request_id=uid,
            source="admission",
            dry_run=dry_run,
            reasons=converted.reasons,
            warnings=converted.warnings,
            subject=converted.subject,
            budget=self.deadline,
        )

    async def _deny_shape(self, uid: str, exc: ObjectError, dry_run: bool) -> Decision:
        reason = Reason(
            policy="input-invalid", severity="high", field=exc.field, message=exc.message
        )
        decision = door_decision(
            exc.scenario, uid, [reason], bundle=self.gate.bundle, dry_run=dry_run, step="object"
        )

        def run(_engine: Engine, _deadline: float | None) -> Decision:
            return decision

        return await self.gate.decide(
            run,
            scenario=exc.scenario,
            request_id=uid,
            source="admission",
            dry_run=dry_run,
            budget=self.deadline,
        )


def _runner(
    converted: Converted, request_id: str, dry_run: bool, cache: DecisionCache
) -> Callable[[Engine, float | None], Decision]:
    inputs = converted.inputs

    def run(engine: Engine, deadline: float | None) -> Decision:
        return evaluate(
            engine, inputs, request_id=request_id, dry_run=dry_run, deadline=deadline, cache=cache
        )

    return run
