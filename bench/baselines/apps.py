"""The two baseline apps. They do the unavoidable part of the gate's job and nothing else.

admission: read the AdmissionReview, echo its uid in a canned allow response (what a webhook
must do at minimum to be valid). multipart: parse the same multipart form the API door takes and
read every part, then return a small JSON body.
"""

from __future__ import annotations

import json

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


def admission_app() -> Starlette:
    return Starlette(routes=[Route("/admission/v1/validate", admission, methods=["POST"])])


def multipart_app() -> Starlette:
    return Starlette(routes=[Route("/api/v1/validate/migration", multipart, methods=["POST"])])
