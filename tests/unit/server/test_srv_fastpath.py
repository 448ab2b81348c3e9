"""The admission fast path: object-keyed cache hits, the raw ASGI door, request ids.

A hit must give the same decision and reasons as a miss and still audit every request; the raw
door must answer exactly like the Starlette route it replaces (status, JSON error, headers).
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_examples_parity import migration_request
from tests.unit.server.support import key_of
from webhook.audit import AuditQuery, open_store
from webhook.contracts.decision import Decision
from webhook.pipelines import Engine
from webhook.server.admission import ADMISSION_PATH, AdmissionDoor
from webhook.server.app import build_apps
from webhook.server.cache import object_material
from webhook.server.gate import Gate, GateState
from webhook.server.logs import request_id_from
from webhook.server.metrics import GateMetrics
from webhook.server.objects import SnapshotPolicy
from webhook.server.settings import ServerSettings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GOOD = EXAMPLES / "t1_good"
BAD = EXAMPLES / "t1_bad_tls_disabled"


def key(
    obj: dict[str, Any], *, kind: str = "MigrationRequest", dry_run: bool = False
) -> str | None:
    label = obj.get("metadata", {}).get("labels", {}).get("migrationgate.io/scenario")
    return key_of(object_material(kind, obj, label=label), dry_run=dry_run)


def test_object_material_covers_every_spec_byte_and_only_the_spec() -> None:
    mr = migration_request(GOOD)
    base = key(mr)
    assert base is not None
    renamed = copy.deepcopy(mr)
    renamed["metadata"] = {"name": "other", "resourceVersion": "7"}
    assert key(renamed) == base  # metadata is not an engine input
    changed = copy.deepcopy(mr)
    changed["spec"]["config"] += " "
    assert key(changed) != base
    reordered = copy.deepcopy(mr)
    reordered["spec"]["signature"] = dict(reversed(list(mr["spec"]["signature"].items())))
    assert key(reordered) != base  # the signature bytes handed to the engine differ
    assert key(mr, dry_run=True) != base
    assert key_of(object_material("MigrationRequest", mr, label=None), identity="other") != base
    assert key({"spec": "not an object"}) is None


def test_object_material_never_caches_replications() -> None:
    cm = {"metadata": {"labels": {"migrationgate.io/scenario": "replication"}}, "data": {}}
    assert key(cm, kind="ConfigMap") is None
    assert key({"spec": {"sourceDb": "a"}}, kind="ReplicationRequest") is None
    migration_cm = {
        "metadata": {"labels": {"migrationgate.io/scenario": "migration"}},
        "data": None,
    }
    assert key(migration_cm, kind="ConfigMap") is not None


def _review(obj: dict[str, Any], uid: str, operation: str = "CREATE") -> dict[str, Any]:
    return {
        "uid": uid,
        "kind": {"group": "migrationgate.io", "version": "v1alpha1", "kind": "MigrationRequest"},
        "operation": operation,
        "object": obj,
        "dryRun": False,
    }


def _door(tmp_path: Path) -> AdmissionDoor:
    state = GateState(engine=Engine.load(None, GOOD / "trust"), store=open_store(tmp_path / "a.db"))
    gate = Gate(state, GateMetrics(), threads=2)
    return AdmissionDoor(gate, max_body=1 << 20, deadline=8.0, snapshots=SnapshotPolicy(None, 0))


def _same(a: Decision, b: Decision) -> None:
    assert a.decision == b.decision
    assert a.reasons == b.reasons and a.warnings == b.warnings and a.steps == b.steps
    assert a.subject == b.subject and a.digests == b.digests


@pytest.mark.parametrize("folder", [GOOD, BAD])
def test_a_hit_decides_like_a_miss_and_audits_every_request(tmp_path: Path, folder: Path) -> None:
    door = _door(tmp_path)
    mr = migration_request(folder)
    mismatched = copy.deepcopy(mr)
    mismatched["spec"]["version"] = "9.9.9"  # a door reason (spec differs from signed payload)

    async def main() -> list[Decision | None]:
        return [
            await door.review(_review(mr, "u1"), env="prod"),
            await door.review(_review(copy.deepcopy(mr), "u2", "UPDATE"), env="prod"),
            await door.review(_review(mismatched, "u3"), env="prod"),
            await door.review(_review(copy.deepcopy(mismatched), "u4"), env="prod"),
        ]

    first, hit, miss2, hit2 = asyncio.run(main())
    assert first is not None and hit is not None and miss2 is not None and hit2 is not None
    assert door.cache.hits >= 2
    _same(first, hit)
    _same(miss2, hit2)
    assert hit.request_id == "u2" and hit2.request_id == "u4"
    assert miss2.decision == "BLOCK" and "signature-invalid" in miss2.policy_ids()
    store = door.gate.state.store
    assert store is not None
    for uid, decision in (("u1", first), ("u2", hit), ("u3", miss2), ("u4", hit2)):
        (record,) = store.query(AuditQuery(request_id=uid)).records
        assert record.decision == decision.decision
    door.gate.close()
    store.close()


def test_a_hit_still_fails_closed_when_the_audit_write_fails(tmp_path: Path) -> None:
    door = _door(tmp_path)
    mr = migration_request(GOOD)

    async def main() -> list[Decision | None]:
        first = await door.review(_review(mr, "v1"), env="prod")
        store = door.gate.state.store
        assert store is not None
        store.close()  # every later append fails
        return [first, await door.review(_review(mr, "v2"), env="prod")]

    first, hit = asyncio.run(main())
    assert first is not None and first.decision == "ALLOW"
    assert hit is not None and hit.decision == "BLOCK"
    assert hit.reasons[-1].policy == "audit-write-failed"
    assert door.gate.metrics.audit_write_failures._value.get() == 1
    door.gate.close()


def test_raw_door_answers_like_the_route(tmp_path: Path) -> None:
    settings = ServerSettings(state_dir=tmp_path, max_body=4096)
    state = GateState(engine=Engine.load(None, GOOD / "trust"), store=open_store(tmp_path / "a.db"))
    apps = build_apps(settings, state, None)
    body = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}
    body["request"] = _review(migration_request(GOOD), "w1")  # type: ignore[assignment]
    json_type = {"Content-Type": "application/json"}

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=apps.admission)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            return [
                await c.post(ADMISSION_PATH, json=body, headers={"X-Request-ID": "trace-1"}),
                await c.post(ADMISSION_PATH, content=b"{}", headers={"Content-Type": "text/plain"}),
                await c.post(ADMISSION_PATH, content=b"x" * 5000, headers=json_type),
                await c.post(ADMISSION_PATH, content=b"{nope", headers=json_type),
                await c.get(ADMISSION_PATH),
                await c.post("/elsewhere", json={}),
            ]

    try:
        ok, media, big, broken, method, missing = asyncio.run(main())
    finally:
        apps.gate.close()
        state.store.close()  # type: ignore[union-attr]
    assert ok.status_code == 200 and ok.json()["response"] == {"uid": "w1", "allowed": True}
    assert ok.headers["x-request-id"] == "trace-1"
    assert ok.headers["content-type"] == "application/json"
    assert media.status_code == 415 and media.json()["error"] == "unsupported-media-type"
    uuid.UUID(media.headers["x-request-id"])
    assert big.status_code == 413 and big.json()["error"] == "payload-too-large"
    assert broken.status_code == 400 and broken.json()["error"] == "invalid-admission-review"
    assert json.loads(broken.content)["detail"].startswith("body is not valid JSON")
    assert method.status_code == 405 and method.json()["error"] == "method-not-allowed"
    assert "x-request-id" in method.headers
    assert missing.status_code == 404 and missing.json()["error"] == "not-found"


def test_request_ids_are_unique_uuid_shaped_and_honour_sane_caller_ids() -> None:
    ids = {request_id_from(None) for _ in range(1000)}
    assert len(ids) == 1000
    for rid in list(ids)[:10]:
        assert uuid.UUID(rid).version == 4 and len(rid) == 36
    assert request_id_from("ci-run-42") == "ci-run-42"
    assert request_id_from("bad id;<x>") != "bad id;<x>"
