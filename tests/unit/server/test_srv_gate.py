"""Gate.decide: engine + durable audit in one worker hop; the deadline backstop; fail closed."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from tests.unit.server.support import decide_cached, key_of
from webhook.audit import AuditQuery, open_store
from webhook.contracts.decision import Decision
from webhook.pipelines import Engine, MigrationInputs
from webhook.server.cache import inputs_material
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


def watch(
    engine: Engine, release: threading.Event | None = None, hold: str | None = None
) -> list[str]:
    """The request ids `engine` decides, in order (the real engine still decides); the one
    named `hold` ignores its deadline: it waits for `release` first."""
    real = engine.validate_migration
    ran: list[str] = []

    def validate(inputs: MigrationInputs, **kw: Any) -> Decision:
        ran.append(kw["request_id"])
        if release is not None and kw["request_id"] == hold:
            release.wait(10)
        return real(inputs, **kw)

    engine.validate_migration = validate  # type: ignore[method-assign]
    return ran


def test_decide_audits_once_and_counts(tmp_path: Path) -> None:
    gate = make_gate(tmp_path)
    decision = asyncio.run(gate.decide(gate.ask("api", "r1", "prod", budget=8.0), inputs()))
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
    assert gate.state.engine is not None
    watch(gate.state.engine, release, "r2")
    start = time.monotonic()
    ask = gate.ask("admission", "r2", "prod", budget=0.2)
    decision = asyncio.run(gate.decide(ask, inputs(), key="k"))
    assert time.monotonic() - start < 5
    assert decision.decision == "BLOCK"
    assert [r.policy for r in decision.reasons] == ["deadline-exceeded"]
    assert gate.recall(ask, "k") is None  # a backstop BLOCK says nothing about the inputs
    release.set()
    gate.close(wait=True)  # the abandoned worker finishes, and must not audit
    assert gate.state.store is not None
    records = gate.state.store.query(AuditQuery(request_id="r2")).records
    assert [r.decision for r in records] == ["BLOCK"]


def test_engine_not_loaded_denies_with_gate_config_invalid(tmp_path: Path) -> None:
    gate = make_gate(tmp_path)
    gate.state.engine = None
    gate.state.errors["policy"] = "policy.yaml: line 1: bad"
    ask = gate.ask("admission", "r3", "prod", dry_run=True)
    decision = asyncio.run(gate.decide(ask, inputs()))
    assert decision.decision == "BLOCK"
    assert decision.reasons[0].policy == "gate-config-invalid"
    assert "policy.yaml: line 1: bad" in decision.reasons[0].message
    assert decision.mode == "dry-run"
    # a decision the door holds is not settled as it is by an unconfigured gate either
    held = asyncio.run(gate.settle(gate.ask("api", "r3b", "prod"), decision.model_copy(
        update={"decision": "ALLOW", "reasons": ()})))  # fmt: skip
    assert held.decision == "BLOCK" and held.reasons[0].policy == "gate-config-invalid"
    gate.close()


def test_an_engine_swapped_mid_request_is_not_the_one_that_answers(tmp_path: Path) -> None:
    """The engine is read once, when the door asks: its key and its decision agree."""
    gate = make_gate(tmp_path)
    ask = gate.ask("api", "r5", "prod")
    gate.state.engine = Engine.load(None, None)  # a reload to a keyless trust store
    assert ask.engine is not None and ask.engine is not gate.state.engine
    decision = asyncio.run(gate.decide(ask, inputs()))
    assert decision.decision == "ALLOW"  # decided by the engine the key was made for
    later = asyncio.run(gate.decide(gate.ask("api", "r6", "prod"), inputs()))
    assert later.decision == "BLOCK"  # and the next request by the new one
    gate.close()


def test_no_audit_store_is_a_block(tmp_path: Path) -> None:
    gate = make_gate(tmp_path, store=False)
    decision = asyncio.run(gate.decide(gate.ask("api", "r4", "prod"), inputs()))
    assert decision.decision == "BLOCK"
    assert decision.reasons[-1].policy == "audit-write-failed"
    assert gate.metrics.audit_write_failures._value.get() == 1
    gate.close()


def test_decision_cache_restamps_and_keys_on_every_input(tmp_path: Path) -> None:
    from webhook.pipelines import ReplicationInputs
    from webhook.server.cache import DecisionCache, inputs_material

    gate = make_gate(tmp_path)
    first = asyncio.run(decide_cached(gate, inputs(), "a"))
    second = asyncio.run(decide_cached(gate, inputs(), "b"))
    assert gate.cache.hits == 1
    assert second.request_id == "b" and second.timestamp >= first.timestamp
    assert second.model_dump(exclude={"request_id", "timestamp"}) == first.model_dump(
        exclude={"request_id", "timestamp"}
    )
    assert gate.state.store is not None  # the hit was audited too
    assert len(gate.state.store.query(AuditQuery(request_id="b")).records) == 1
    gate.close()
    base = key_of(inputs_material(inputs()))
    assert base is not None and base != key_of(inputs_material(inputs()), dry_run=True)
    assert base != key_of(inputs_material(inputs()), identity="other")
    changed = MigrationInputs(manifest=inputs().manifest, config=b"x", signature=None)
    assert base != key_of(inputs_material(changed))
    # attestation-only replications depend on the clock: never cached
    only_attested = ReplicationInputs(
        manifest=b"a", snapshot=None, attestation=b"x", snapshot_required=False
    )
    assert inputs_material(only_attested) is None
    snap = tmp_path / "s.tar.gz"
    snap.write_bytes(b"1")
    rep = ReplicationInputs(manifest=b"a", snapshot=snap)
    k1 = key_of(inputs_material(rep))
    snap.write_bytes(b"22")  # size/mtime change: a different key
    assert k1 is not None and k1 != key_of(inputs_material(rep))
    assert DecisionCache(0).get("k", "r") is None


def test_concurrent_twins_are_decided_once_and_each_audited(tmp_path: Path) -> None:
    """Eight requests with the same inputs at once: one engine run, eight records, one answer."""
    gate = make_gate(tmp_path)
    assert gate.state.engine is not None
    ran = watch(gate.state.engine)

    async def main() -> list[Decision]:
        return list(await asyncio.gather(*(decide_cached(gate, inputs(), f"t{i}")
                                           for i in range(8))))  # fmt: skip

    decisions = asyncio.run(main())
    assert ran == ["t0"]
    assert [d.request_id for d in decisions] == [f"t{i}" for i in range(8)]
    first = decisions[0].model_dump(exclude={"request_id", "timestamp"})
    assert all(d.model_dump(exclude={"request_id", "timestamp"}) == first for d in decisions)
    assert gate.state.store is not None
    for i in range(8):
        (record,) = gate.state.store.query(AuditQuery(request_id=f"t{i}")).records
        assert record.decision == "ALLOW"
    assert gate._inflight == {}
    gate.close()


def test_a_twin_never_waits_past_its_own_budget(tmp_path: Path) -> None:
    gate = make_gate(tmp_path)
    release = threading.Event()
    assert gate.state.engine is not None
    watch(gate.state.engine, release, "slow")

    async def main() -> tuple[Decision, float]:
        ask = gate.ask("api", "slow", "prod", budget=8.0)
        key = gate.key(ask, inputs_material(inputs()))
        leader = asyncio.ensure_future(gate.decide(ask, inputs(), key=key))
        await asyncio.sleep(0.05)
        start = time.monotonic()
        twin = await gate.decide(gate.ask("api", "quick", "prod", budget=0.2), inputs(), key=key)
        waited = time.monotonic() - start
        release.set()
        assert (await leader).decision == "ALLOW"
        return twin, waited

    twin, waited = asyncio.run(main())
    assert waited < 5
    assert twin.decision == "BLOCK" and twin.reasons[0].policy == "deadline-exceeded"
    assert "0.2s api deadline" in twin.reasons[0].message
    gate.close(wait=True)


def test_a_twin_decides_itself_when_the_leader_has_nothing_to_share(tmp_path: Path) -> None:
    """A leader stopped by its backstop says nothing about the inputs: the twin decides."""
    gate = make_gate(tmp_path)
    release = threading.Event()
    assert gate.state.engine is not None
    ran = watch(gate.state.engine, release, "stuck")

    async def main() -> tuple[Decision, Decision]:
        ask = gate.ask("api", "stuck", "prod", budget=0.1)
        key = gate.key(ask, inputs_material(inputs()))
        leader = asyncio.ensure_future(gate.decide(ask, inputs(), key=key))
        await asyncio.sleep(0.02)
        twin = await gate.decide(gate.ask("api", "twin", "prod", budget=8.0), inputs(), key=key)
        return await leader, twin

    try:
        leader, twin = asyncio.run(main())
    finally:
        release.set()
    assert leader.reasons[0].policy == "deadline-exceeded"
    assert twin.decision == "ALLOW" and "twin" in ran
    gate.close(wait=True)
