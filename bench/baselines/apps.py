"""The two baseline apps. They do the unavoidable part of the gate's job and nothing else.

admission: read the AdmissionReview, echo its uid in a canned allow response (what a webhook
must do at minimum to be valid). multipart: parse the same multipart form the API door takes and
read every part, then return a small JSON body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def admission(request: Request) -> Response:
    review = json.loads(await request.body())
    uid = review.get("request", {}).get("uid", "")
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": uid, "allowed": True},
    }
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


async def multipart(request: Request) -> Response:
    sizes: dict[str, int] = {}
    async with request.form(max_part_size=4 * 1024 * 1024) as form:
        for name, value in form.multi_items():
            if isinstance(value, str):
                sizes[name] = len(value)
            else:
                sizes[name] = len(await value.read())
    return Response(json.dumps({"decision": "ALLOW", "parts": sizes}),
                    media_type="application/json")


def admission_audited_app(db: Path) -> Starlette:
    """B1's floor: the canned endpoint plus the one thing fail-closed adds to every request.

    That is a durable, hash-chained audit record, written with the gate's own store and record
    code, of the decision the engine gives the bench inputs, re-stamped per request as a
    decision-cache hit is: the price of the fail-closed rule alone on the baseline's own stack
    (Starlette routing, stdlib json), before any policy work.
    """
    from bench.payloads import TRUST_DIR, artifacts
    from webhook.audit import open_store
    from webhook.audit.record import record_decision_async
    from webhook.pipelines import Engine, MigrationInputs
    from webhook.pipelines.report import rfc3339

    a = artifacts()
    decision = Engine.load(trust_dir=TRUST_DIR).validate_migration(
        MigrationInputs(a.manifest, a.config, a.signature), request_id="floor")
    store = open_store(db)

    async def audited(request: Request) -> Response:
        review = json.loads(await request.body())
        uid = review.get("request", {}).get("uid", "")
        stamped = decision.model_copy(
            update={"request_id": uid, "timestamp": rfc3339(datetime.now(UTC))})
        result = await record_decision_async(store, stamped, source="admission", dry_run=False)
        body = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": uid, "allowed": result.decision == "ALLOW"},
        }
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    return Starlette(routes=[Route("/admission/v1/validate", audited, methods=["POST"])])


def admission_app() -> Starlette:
    return Starlette(routes=[Route("/admission/v1/validate", admission, methods=["POST"])])


def multipart_app() -> Starlette:
    return Starlette(routes=[Route("/api/v1/validate/migration", multipart, methods=["POST"])])
