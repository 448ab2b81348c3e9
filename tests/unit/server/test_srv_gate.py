"""Gate.decide: engine + durable audit in one worker hop; the deadline backstop; fail closed."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from webhook.audit import AuditQuery, open_store
from webhook.contracts.decision import Decision
from webhook.pipelines import Engine, MigrationInputs
from webhook.server.gate import Gate, GateState
from webhook.server.metrics import GateMetrics

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "t1_good"


def inputs() -> MigrationInputs:
    return MigrationInputs(
        manifest=(EXAMPLE / "migration_manifest.json").read_bytes(),
        config=(EXAMPLE / "app-config.yaml").read_bytes(),
        signature=(EXAMPLE / "migration_manifest.dsse.json").read_bytes(),
    )


def make_gate(tmp_path: Path, *, store: bool = True) -> Gate:
    state = GateState(engine=Engine.load(None, EXAMPLE / "trust"))
    if store:
        state.store = open_store(tmp_path / "audit.db")
    else:
        state.errors["audit"] = "audit.db: cannot open"
    return Gate(state, GateMetrics(), threads=4)


def test_decide_audits_once_and_counts(tmp_path: Path) -> None:
    gate = make_gate(tmp_path)

    def run(engine: Engine, deadline: float | None) -> Decision:
        return engine.validate_migration(inputs(), request_id="r1", deadline=deadline)

    decision = asyncio.run(
        gate.decide(run, scenario="T1", request_id="r1", source="api", dry_run=False, budget=8.0)
    )
    assert decision.decision == "ALLOW"
    assert gate.state.store is not None
    page = gate.state.store.query(AuditQuery(request_id="r1"))
    assert [r.decision for r in page.records] == ["ALLOW"]
    value = gate.metrics.decisions.labels("T1", "ALLOW", "api", "prod")._value.get()
    assert value == 1
    gate.close()


def test_backstop_denies_a_stuck_engine_and_audits_exactly_once(tmp_path: Path) -> None:
    gate = make_gate(tmp_path)
    release = threading.Event()

    def stuck(engine: Engine, deadline: float | None) -> Decision:
        release.wait(10)  # an engine that ignores its deadline
        return engine.validate_migration(inputs(), request_id="r2")

    start = time.monotonic()
    decision = asyncio.run(
        gate.decide(
            stuck, scenario="T1", request_id="r2", source="admission", dry_run=False, budget=0.2
        )
    )
    assert time.monotonic() - start < 5
    assert decision.decision == "BLOCK"
    assert [r.policy for r in decision.reasons] == ["deadline-exceeded"]
    release.set()
    gate.close(wait=True)  # the abandoned worker finishes, and must not audit
    assert gate.state.store is not None
    records = gate.state.store.query(AuditQuery(request_id="r2")).records
    assert [r.decision for r in records] == ["BLOCK"]


def test_engine_not_loaded_denies_with_gate_config_invalid(tmp_path: Path) -> None:
    gate = make_gate(tmp_path)
    gate.state.engine = None
    gate.state.errors["policy"] = "policy.yaml: line 1: bad"

    def never(engine: Engine, deadline: float | None) -> Decision:
        raise AssertionError("must not run")

    decision = asyncio.run(
        gate.decide(never, scenario="T1", request_id="r3", source="admission", dry_run=True)
    )
    assert decision.decision == "BLOCK"
    assert decision.reasons[0].policy == "gate-config-invalid"
    assert "policy.yaml: line 1: bad" in decision.reasons[0].message
    assert decision.mode == "dry-run"
    gate.close()


def test_no_audit_store_is_a_block(tmp_path: Path) -> None:
    gate = make_gate(tmp_path, store=False)

    def run(engine: Engine, deadline: float | None) -> Decision:
        return engine.validate_migration(inputs(), request_id="r4")

    decision = asyncio.run(
        gate.decide(run, scenario="T1", request_id="r4", source="api", dry_run=False)
    )
    assert decision.decision == "BLOCK"
    assert decision.reasons[-1].policy == "audit-write-failed"
    assert gate.metrics.audit_write_failures._value.get() == 1
    gate.close()


def test_decision_cache_restamps_and_keys_on_every_input(tmp_path: Path) -> None:
    from webhook.pipelines import ReplicationInputs
    from webhook.server.cache import DecisionCache, cache_key, evaluate

    engine = Engine.load(None, EXAMPLE / "trust")
    cache = DecisionCache(60)
    first = evaluate(
        engine, inputs(), request_id="a", dry_run=False, deadline=None, cache=cache, env="prod"
    )
    second = evaluate(
        engine, inputs(), request_id="b", dry_run=False, deadline=None, cache=cache, env="prod"
    )
    assert cache.hits == 1
    assert second.request_id == "b" and second.timestamp >= first.timestamp
    assert second.model_dump(exclude={"request_id", "timestamp"}) == first.model_dump(
        exclude={"request_id", "timestamp"}
    )
    bundle = engine.bundle_digest
    base = cache_key(inputs(), bundle=bundle, dry_run=False, env="prod")
    assert base != cache_key(inputs(), bundle=bundle, dry_run=True, env="prod")
    changed = MigrationInputs(manifest=inputs().manifest, config=b"x", signature=None)
    assert base != cache_key(changed, bundle=bundle, dry_run=False, env="prod")
    # attestation-only replications depend on the clock: never cached
    assert (
        cache_key(
            ReplicationInputs(
                manifest=b"a", snapshot=None, attestation=b"x", snapshot_required=False
            ),
            bundle=bundle,
            dry_run=False,
            env="prod",
        )
        is None
    )
    snap = tmp_path / "s.tar.gz"
    snap.write_bytes(b"1")
    rep = ReplicationInputs(manifest=b"a", snapshot=snap)
    k1 = cache_key(rep, bundle=bundle, dry_run=False, env="prod")
    snap.write_bytes(b"22")  # size/mtime change: a different key
    assert k1 is not None and k1 != cache_key(rep, bundle=bundle, dry_run=False, env="prod")
    assert DecisionCache(0).get("k", "r") is None
