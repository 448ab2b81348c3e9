"""What the server tests share: raw ASGI requests, decision keys, a cached decision."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.types import Message, Receive, Scope

from webhook.contracts.decision import Decision
from webhook.contracts.env import Env
from webhook.pipelines import MigrationInputs, ReplicationInputs
from webhook.server.cache import Material, decision_key, inputs_material
from webhook.server.gate import Gate


def asgi_post(
    chunks: Iterable[bytes],
    content_type: str,
    *,
    length: str | None = None,
    disconnect: bool = False,
    path: str = "/",
) -> tuple[Scope, Receive]:
    """A POST's scope and a `receive` giving `chunks` (then a disconnect, if asked)."""
    headers = [(b"content-type", content_type.encode("latin-1"))]
    if length is not None:
        headers.append((b"content-length", length.encode("latin-1")))
    scope: Scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    pieces = list(chunks)
    messages: list[Message] = [
        {"type": "http.request", "body": p, "more_body": disconnect or i < len(pieces) - 1}
        for i, p in enumerate(pieces)
    ] or [{"type": "http.request", "body": b"", "more_body": disconnect}]
    if disconnect:
        messages.append({"type": "http.disconnect"})

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return scope, receive


def key_of(
    material: Material | None, *, identity: str = "b", dry_run: bool = False, env: Env = "prod"
) -> str | None:
    """`decision_key` of a material (None stays None: not cacheable)."""
    if material is None:
        return None
    return decision_key(material, identity=identity, dry_run=dry_run, env=env)


async def decide_cached(
    gate: Gate,
    inputs: MigrationInputs | ReplicationInputs,
    request_id: str,
    *,
    env: Env = "prod",
    dry_run: bool = False,
    **kw: Any,
) -> Decision:
    """The API door's way: key the inputs, settle a hit, else decide and remember."""
    ask = gate.ask("api", request_id, env, dry_run=dry_run, **kw)
    key = gate.key(ask, inputs_material(inputs))
    hit = gate.recall(ask, key)
    if hit is not None:
        return await gate.settle(ask, hit)
    return await gate.decide(ask, inputs, key=key)
