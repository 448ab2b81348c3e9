"""One door cannot starve another: a pool per door, a time budget on every decision, queued work
abandoned by its deadline never started, stale upload spools swept at start."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from webhook.audit import open_store
from webhook.contracts.decision import Decision
from webhook.pipelines import Engine, MigrationInputs
from webhook.server.gate import Gate, GateState
from webhook.server.metrics import GateMetrics

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "t1_good"
WAIT = 20.0  # generous: a hang fails the test instead of blocking the run


def inputs() -> MigrationInputs:
    return MigrationInputs(
        manifest=(EXAMPLE / "migration_manifest.json").read_bytes(),
        config=(EXAMPLE / "app-config.yaml").read_bytes(),
        signature=(EXAMPLE / "migration_manifest.dsse.json").read_bytes(),
    )


def make_gate(tmp_path: Path, **kw: object) -> Gate:
    state = GateState(engine=Engine.load(None, EXAMPLE / "trust"))
    state.store = open_store(tmp_path / "audit.db")
    return Gate(state, GateMetrics(), **kw)  # type: ignore[arg-type]


def hold(
    gate: Gate, release: threading.Event, ids: set[str], started: threading.Event | None = None
) -> list[str]:
    """Decisions for `ids` ignore their deadline (a huge hash, a slow disk): each waits for
    `release`. Returns the request ids the engine started, in order."""
    engine = gate.state.engine
    assert engine is not None
    real = engine.validate_migration
    ran: list[str] = []

    def validate(inputs: MigrationInputs, **kw: Any) -> Decision:
        ran.append(kw["request_id"])
        if kw["request_id"] in ids:
            if started is not None:
                started.set()
            release.wait(WAIT)
        return real(inputs, **kw)

    engine.validate_migration = validate  # type: ignore[method-assign]
    return ran


def test_stuck_api_decisions_leave_admission_its_threads(tmp_path: Path) -> None:
    """Every API thread busy: admission still decides at once (one shared pool used to wait)."""
    gate = make_gate(tmp_path, threads=1, api_threads=1, budgets={"api": WAIT})
    release = threading.Event()
    hold(gate, release, {"a1"})

    async def scenario() -> tuple[Decision, bool]:
        api = asyncio.ensure_future(gate.decide(gate.ask("api", "a1", "prod"), inputs()))
        await asyncio.sleep(0.05)
        admission = await asyncio.wait_for(
            gate.decide(gate.ask("admission", "k1", "prod", budget=WAIT), inputs()), WAIT
        )
        still_stuck = not api.done()
        release.set()
        await api
        return admission, still_stuck

    admission, still_stuck = asyncio.run(scenario())
    assert still_stuck  # admission was answered while the API thread was still held
    assert admission.decision == "ALLOW"
    gate.close()


def test_every_api_decision_has_a_time_budget(tmp_path: Path) -> None:
    """No `budget` from the door: the API's own (it used to wait for ever)."""
    gate = make_gate(tmp_path, api_threads=1, budgets={"api": 0.2})
    release = threading.Event()
    hold(gate, release, {"r1"})

    async def scenario() -> Decision:
        return await asyncio.wait_for(gate.decide(gate.ask("api", "r1", "prod"), inputs()), WAIT)

    try:
        decision = asyncio.run(scenario())
    finally:
        release.set()
    assert decision.decision == "BLOCK"
    assert [r.policy for r in decision.reasons] == ["deadline-exceeded"]
    assert "0.2s api deadline" in decision.reasons[0].message
    gate.close()


def test_queued_work_past_its_deadline_is_never_started(tmp_path: Path) -> None:
    gate = make_gate(tmp_path, api_threads=1)
    release, started = threading.Event(), threading.Event()
    ran = hold(gate, release, {"q1"}, started)

    async def scenario() -> Decision:
        first = asyncio.ensure_future(gate.decide(gate.ask("api", "q1", "prod", budget=WAIT),
                                                  inputs()))  # fmt: skip
        await asyncio.to_thread(started.wait, WAIT)
        queued = await gate.decide(gate.ask("api", "q2", "prod", budget=0.05), inputs())
        release.set()
        await first
        return queued

    queued = asyncio.run(scenario())
    gate.close(wait=True)  # the worker has drained its queue: `second` had its chance to run
    assert queued.decision == "BLOCK" and queued.reasons[0].policy == "deadline-exceeded"
    assert ran == ["q1"]  # q2 was abandoned in the queue, never started


def test_pools_are_apart_and_all_closed(tmp_path: Path) -> None:
    gate = make_gate(tmp_path, threads=2, api_threads=3)
    assert gate.pools["admission"] is not gate.pools["api"]
    assert gate.pools["ui"] is not gate.pools["api"]
    threads = [*gate.pools["admission"]._threads, *gate.pools["api"]._threads]
    assert [t.name for t in threads] == ["admission-0", "admission-1", "api-0", "api-1", "api-2"]
    threads += gate.pools["ui"]._threads
    gate.close(wait=True)
    assert not any(t.is_alive() for t in threads)


def test_a_saturated_default_executor_starves_no_door(tmp_path: Path) -> None:
    """Blocking work of every door used asyncio's one default executor: with its threads held
    (slow audit queries, say) a large admission body could not even be parsed."""
    import httpx

    from webhook.server.admission import THREAD_PARSE_BYTES
    from webhook.server.app import build_apps
    from webhook.server.settings import ServerSettings

    state = GateState(engine=Engine.load(None, EXAMPLE / "trust"))
    state.store = open_store(tmp_path / "audit.db")
    apps = build_apps(ServerSettings(state_dir=tmp_path), state, None)
    release = threading.Event()
    padding = "x" * (THREAD_PARSE_BYTES + 1024)
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "big", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "operation": "CREATE", "object": {"metadata": {"annotations": {"pad": padding}}},
        },
    }  # fmt: skip

    async def call(app: object, method: str, url: str, **kw: object) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as client:
            return await asyncio.wait_for(client.request(method, url, **kw), WAIT / 2)  # type: ignore[arg-type]

    async def scenario() -> tuple[int, int, bool]:
        loop = asyncio.get_running_loop()
        blockers = [loop.run_in_executor(None, release.wait, WAIT) for _ in range(64)]
        await asyncio.sleep(0.05)
        try:
            admitted = await call(apps.admission, "POST", "/admission/v1/validate", json=review)
            ready = await call(apps.ops, "GET", "/readyz")
            held = not any(b.done() for b in blockers)
        finally:
            release.set()
            await asyncio.gather(*blockers)
        return admitted.status_code, ready.status_code, held

    admitted, ready, held = asyncio.run(scenario())
    assert held  # every default-executor thread was still held while both doors answered
    assert admitted == 200 and ready in (200, 503)
    apps.gate.close()
    state.store.close()
