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

One request, in order (`AdmissionDoor.handle`): receive (`_receive`: media type, length, body)
-> parse (`_parse`: JSON, then `parse_review`) -> key and look up (`Gate.key`, `Gate.recall`: a
T1 object before conversion) -> convert (`_convert`, `objects.convert`) -> decide (`Gate.decide`:
the engine, door reasons merged, remembered) -> record (`Gate.settle`/`decide`: the audit append,
fail closed) -> answer (`build_response`, `response_bytes`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.types import Receive, Scope

from webhook.contracts.decision import Decision, Reason, Scenario
from webhook.contracts.env import Env
from webhook.server.admission_types import (
    API_VERSION,
    KIND,
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReviewRequest,
    AdmissionReviewResponse,
    AdmissionUID,
)
from webhook.server.cache import Material, inputs_material, object_material
from webhook.server.gate import Gate, door_block
from webhook.server.http import (
    HTTPError,
    check_length,
    check_media_type,
    json_bytes,
    lone_surrogate_path,
    parse_json,
    read_body,
    scope_headers,
)
from webhook.server.objects import (
    SCENARIO_LABEL,
    Converted,
    Kind,
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
    """The endpoint, bound to a Gate and the admission settings: `handle` is the whole door."""

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

    async def handle(
        self, scope: Scope, receive: Receive, state: dict[str, Any]
    ) -> tuple[int, bytes]:
        """receive -> parse -> (convert -> decide -> record: `review`) -> answer.

        The one handler of both paths, served raw (`DirectRoute`) and by Starlette (`route`).
        `state["decision"]` is set for the access line."""
        env = path_env(scope["path"])
        body = await self._receive(scope, receive)
        req, plain = await self._parse(body)
        decision = await self.review(req, env=env, plain=plain)
        state["decision"] = decision.decision if decision is not None else "SKIP"
        return 200, response_bytes(build_response(req["uid"], decision))

    async def _receive(self, scope: Scope, receive: Receive) -> bytes:
        """Media type (415), declared (413, 400) and actual (413) length, then the body."""
        content_type, length = scope_headers(scope, b"content-type", b"content-length")
        check_media_type((content_type or "").split(";", 1)[0].strip().lower(), "application/json")
        check_length(length, self.max_body)
        return await read_body(receive, self.max_body)

    async def _parse(self, body: bytes) -> tuple[AdmissionRequest, bool]:
        """The review's request, strictly checked (ReviewError: 400), and `plain` (see
        `parse_json`); a large body is parsed off the loop."""
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
        return parse_review(doc)["request"], plain

    async def review(
        self, req: AdmissionRequest, *, env: Env, plain: bool = False
    ) -> Decision | None:
        """The recorded decision for a parsed request to the `env` door (None: not gated).

        A T1 object is keyed before conversion, so a repeat skips it; a T2 one after (its key is
        the identity of the files it names). `env` is required: only the path the apiserver
        called may say it. `plain`: see `parse_json`."""
        gvk = req["kind"]
        obj = req.get("object")
        op = req["operation"]
        kind = gated_kind(gvk["group"], gvk["version"], gvk["kind"], obj)
        if kind is None or op not in ("CREATE", "UPDATE"):
            self.gate.metrics.admission_skipped.labels(kind or "other", op).inc()
            return None
        ask = self.gate.ask(
            "admission", req["uid"], env, dry_run=bool(req.get("dryRun", False)),
            budget=self.deadline,
        )  # fmt: skip
        key = self.gate.key(ask, _material(kind, obj, plain))
        hit = self.gate.recall(ask, key)
        if hit is not None:  # same spec/data seen: no conversion, no engine, no thread hop
            return await self.gate.settle(ask, hit)
        try:
            converted, material = await self._convert(kind, obj, op)
        except ObjectError as exc:
            refusal = door_block(
                ask, exc.scenario, policy="input-invalid", field=exc.field, message=exc.message,
                step="object", subject={"env": ask.env},
            )  # fmt: skip
            return await self.gate.settle(ask, refusal)
        if key is None and material is not None:
            key = self.gate.key(ask, material)
            hit = self.gate.recall(ask, key)
            if hit is not None:
                return await self.gate.settle(ask, hit)
        return await self.gate.decide(
            ask, converted.inputs, reasons=converted.reasons, warnings=converted.warnings,
            # a door-made BLOCK (gate unconfigured, deadline backstop) names the door's env, never
            # the env the object claims
            subject={**converted.subject, "env": env}, key=key,
        )  # fmt: skip

    async def _convert(
        self, kind: Kind, obj: Mapping[str, Any] | None, op: str
    ) -> tuple[Converted, Material | None]:
        """The engine inputs and door reasons, plus the key material of a replication that
        hashed a local snapshot with no door reason (else None: a T1 object was keyed before
        conversion; anything with door reasons or warnings is not cached by its inputs, since
        the inputs alone do not say what the door found). ObjectError for an unusable shape."""
        scenario: Scenario = "T1" if _t1(kind, obj) else "T2"
        if obj is None:
            raise ObjectError(scenario, "request.object", f"{op} of a {kind} carries no object")

        def work() -> tuple[Converted, Material | None]:
            try:
                converted = convert(kind, obj, self.snapshots)
            except (AttributeError, TypeError, KeyError) as exc:
                raise ObjectError(
                    scenario, "object", f"unreadable {kind}: {type(exc).__name__}"
                ) from None
            keyable = scenario == "T2" and not converted.reasons and not converted.warnings
            return converted, inputs_material(converted.inputs) if keyable else None

        if scenario == "T1":
            return work()
        return await self.gate.offload("admission", work)  # resolves and stats files


def _t1(kind: Kind, obj: Mapping[str, Any] | None) -> bool:
    if kind == "ConfigMap":
        return _label(obj) != "replication"
    return kind == "MigrationRequest"


def _label(obj: Mapping[str, Any] | None) -> object:
    """A gated ConfigMap's scenario label (`gated_kind` checked the path to it)."""
    return obj["metadata"]["labels"][SCENARIO_LABEL] if obj is not None else None


def _material(kind: Kind, obj: Mapping[str, Any] | None, plain: bool) -> Material | None:
    if obj is None:
        return None
    label = _label(obj) if kind == "ConfigMap" else None
    return object_material(kind, obj, label=label if isinstance(label, str) else None, plain=plain)


def path_env(path: str) -> Env:
    """The env an admission path decides for; only the exact served paths have one."""
    env = ADMISSION_PATHS.get(path)
    if env is None:  # routing sends nothing else here; refuse rather than guess
        raise HTTPError(404, "not-found", f"no admission webhook at {path[:64]!r}")
    return env
