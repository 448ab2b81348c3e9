"""The decide -> record -> count sequence every door runs, with a hard deadline.

A door asks (`Gate.ask`: its source, request id, env, dry-run flag and budget, and the engine
read once), keys its material (`Gate.key`), looks it up (`Gate.recall`), and then either settles
what it holds (`Gate.settle`: a cache hit or its own refusal) or has the engine decide
(`Gate.decide`). Both end in the same record-and-count step.

The engine is blocking, so it runs in a worker thread; the durable audit append is awaited on the
event loop (the group-commit writer resolves an asyncio future), so no thread is parked while a
batch commits, and a decision-cache hit needs no thread hop at all. The engine honours its own
deadline; `Gate` adds a backstop for a thread that never comes back: past deadline + grace the
request gets a `deadline-exceeded` BLOCK. Only the loop audits, once per request, whichever of
{engine result, backstop} settles the future first; a late engine result is dropped unaudited.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from webhook.audit import AuditStore, record_decision
from webhook.audit.record import record_decision_async
from webhook.contracts.decision import Decision, Reason, Scenario, Source, Step
from webhook.contracts.env import Env
from webhook.pipelines import Engine, MigrationInputs, ReplicationInputs
from webhook.pipelines.report import rfc3339
from webhook.server.cache import (
    DecisionCache,
    Material,
    cacheable,
    decision_key,
    engine_identity,
    restamped,
)
from webhook.server.metrics import GateMetrics

log = logging.getLogger("migration_gate.gate")
T = TypeVar("T")

#: how long past the engine deadline the backstop waits for a worker thread
BACKSTOP_GRACE = 0.5
IO_THREADS = 4
UI_THREADS = 4
#: a decision's time budget, s, when its door gives none (`ServerSettings` sets the real ones)
DEFAULT_BUDGETS: dict[Source, float] = {"admission": 8.0, "api": 120.0, "ui": 120.0, "cli": 120.0}
NO_BUNDLE = "none"


@dataclass(frozen=True, slots=True)
class ReloadRefusal:
    """A newer bundle or trust store that failed to load; the last good engine keeps deciding."""

    what: str  # "policy" | "trust"
    file: str | None
    error: str
    at: str


@dataclass(frozen=True, slots=True)
class Ask:
    """One request's question to the gate: which door asks, for what, and the engine that
    answers (read once from `GateState.engine` when the door asked)."""

    source: Source
    request_id: str
    env: Env
    dry_run: bool
    budget: float
    engine: Engine | None


@dataclass
class GateState:
    """What /readyz reports: every component loaded, or the precise error of the one that is not.

    `engine` is the only reference a decision reads (once, at its start): a reload replaces it
    in one assignment, so a decision never mixes the bundle of one load with the trust of another.
    """

    engine: Engine | None = None
    store: AuditStore | None = None
    errors: dict[str, str] = field(default_factory=dict)
    #: the last reload that was refused (None once a later reload succeeds)
    refused: ReloadRefusal | None = None


def door_block(
    ask: Ask,
    scenario: Scenario,
    *,
    policy: str,
    field: str,
    message: str,
    step: str,
    subject: dict[str, str] | None,
) -> Decision:
    """A BLOCK made by a door when the engine cannot decide (gate not configured, deadline
    backstop, an object the engine cannot be given), under the asking engine's bundle."""
    reason = Reason(policy=policy, severity="high", field=field, message=message)
    return Decision(
        request_id=ask.request_id,
        timestamp=rfc3339(datetime.now(UTC)),
        scenario=scenario,
        decision="BLOCK",
        mode="dry-run" if ask.dry_run else "enforce",
        reasons=(reason,),
        steps=(Step(name=step, ok=False, detail=message),),
        subject=dict(subject or {}),
        policy_bundle=ask.engine.bundle_digest if ask.engine is not None else NO_BUNDLE,
    )


def merge(decision: Decision, reasons: Sequence[Reason], warnings: Sequence[Reason]) -> Decision:
    """Add door-level reasons (BLOCK) and notes (warnings) to an engine decision."""
    if not reasons and not warnings:
        return decision
    update: dict[str, object] = {"warnings": (*decision.warnings, *warnings)}
    if reasons:
        update["reasons"] = (*decision.reasons, *reasons)
        update["decision"] = "BLOCK"
    return decision.model_copy(update=update)


class WorkerPool:
    """Fixed worker threads fed by a SimpleQueue: a cheaper hop than ThreadPoolExecutor.

    The result goes back to the event loop with `call_soon_threadsafe`, so awaiting it costs
    one future and no extra task; nothing here ever blocks the loop.
    """

    def __init__(self, threads: int, name: str = "engine") -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
            for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            job()

    def submit(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def deliver(ok: bool, value: object) -> None:
            if future.done():
                return
            if ok:
                future.set_result(value)  # type: ignore[arg-type]
            else:
                future.set_exception(value)  # type: ignore[arg-type]

        def job() -> None:
            if future.done():
                return  # abandoned (the backstop answered) while queued: do not start it
            try:
                result: object = fn()
                ok = True
            except BaseException as exc:  # delivered to the awaiting request, never lost
                result, ok = exc, False
            if future.done() or loop.is_closed():
                return  # abandoned by the backstop, or the server has stopped
            try:
                loop.call_soon_threadsafe(deliver, ok, result)
            except RuntimeError:  # the loop closed in between: nobody is waiting any more
                return

        self._queue.put(job)
        return future

    def shutdown(self, wait: bool = False) -> None:
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for t in self._threads:
                t.join()


class Gate:
    """Engine + audit store + metrics behind one `decide()` for all doors."""

    def __init__(
        self,
        state: GateState,
        metrics: GateMetrics,
        *,
        threads: int = 32,
        api_threads: int = 8,
        cache_ttl: float = 60.0,
        budgets: Mapping[Source, float] | None = None,
    ) -> None:
        self.state = state
        self.metrics = metrics
        # one bounded pool per door: API uploads that hash for minutes never take the threads
        # admission needs, nor the UI's (pages mounted on the API port; "cli" never comes here)
        ui = WorkerPool(UI_THREADS, name="ui")
        self.pools: dict[Source, WorkerPool] = {
            "admission": WorkerPool(threads, name="admission"),
            "api": WorkerPool(api_threads, name="api"), "ui": ui, "cli": ui,
        }  # fmt: skip
        #: each door's other blocking work (parsing, file stats, store reads, health checks):
        #: asyncio's default executor is one pool for all, so a slow audit query could hold the
        #: threads an admission parse or a /readyz check waits for
        self.io: dict[str, WorkerPool] = {
            "admission": WorkerPool(IO_THREADS, name="admission-io"),
            "api": WorkerPool(IO_THREADS, name="api-io"),
            "metrics": WorkerPool(2, name="health-io"),
        }
        #: every decision's time budget, s, by door (a caller's `budget` wins)
        self.budgets: dict[Source, float] = {**DEFAULT_BUDGETS, **(budgets or {})}
        self.cache = DecisionCache(cache_ttl)
        #: key -> the decision being made for it now (see `decide`); on the event loop only
        self._inflight: dict[str, asyncio.Future[Decision | None]] = {}

    def offload(self, door: str, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run blocking `fn` on `door`'s own I/O threads (admission, api, metrics)."""
        return self.io[door].submit(fn)

    def close(self, wait: bool = False) -> None:
        pools = [*self.pools.values(), *self.io.values()]
        for pool in {id(p): p for p in pools}.values():
            pool.shutdown(wait=wait)

    def record(self, decision: Decision, *, source: Source, dry_run: bool) -> Decision:
        """Blocking: the fail-closed audit append (a failed write turns the decision into BLOCK)."""
        store = self.state.store
        if store is None:
            self.metrics.audit_write_failures.inc()
            reason = Reason(
                policy="audit-write-failed",
                severity="high",
                field="audit",
                message="audit store is not open: " + self.state.errors.get("audit", "unknown"),
            )
            return merge(decision, [reason], [])
        return record_decision(
            store,
            decision,
            source=source,
            dry_run=dry_run,
            on_write_failure=self.metrics.audit_write_failures.inc,
        )

    async def record_async(self, decision: Decision, *, source: Source, dry_run: bool) -> Decision:
        """`record` without a thread: the loop awaits the writer; same fail-closed outcomes."""
        store = self.state.store
        if store is None:
            return self.record(decision, source=source, dry_run=dry_run)  # no I/O on this path
        return await record_decision_async(
            store,
            decision,
            source=source,
            dry_run=dry_run,
            on_write_failure=self.metrics.audit_write_failures.inc,
        )

    def ask(
        self,
        source: Source,
        request_id: str,
        env: Env,
        *,
        dry_run: bool = False,
        budget: float | None = None,
    ) -> Ask:
        """One request's question, with the engine read once: its key, lookup and decision all
        use that engine, even if a reload swaps it meanwhile."""
        return Ask(
            source=source, request_id=request_id, env=env, dry_run=dry_run,
            budget=self.budgets[source] if budget is None else budget, engine=self.state.engine,
        )  # fmt: skip

    def key(self, ask: Ask, material: Material | None) -> str | None:
        """The decision-cache key of `material` for `ask` (None: cache off, nothing to key)."""
        if material is None or ask.engine is None or self.cache.ttl <= 0:
            return None
        return decision_key(
            material, identity=engine_identity(ask.engine), dry_run=ask.dry_run, env=ask.env
        )

    def recall(self, ask: Ask, key: str | None) -> Decision | None:
        """The cached decision under `key`, re-stamped for `ask` (on the loop: no thread hop)."""
        return self.cache.get(key, ask.request_id) if key is not None else None

    async def decide(
        self,
        ask: Ask,
        inputs: MigrationInputs | ReplicationInputs,
        *,
        reasons: Sequence[Reason] = (),
        warnings: Sequence[Reason] = (),
        subject: dict[str, str] | None = None,
        key: str | None = None,
    ) -> Decision:
        """The engine's decision in the door's pool, door `reasons` and `warnings` merged,
        remembered under `key`, then recorded and counted (`settle`).

        A request whose key is being decided right now waits for that decision instead of
        deciding the same inputs again (it is what a cache hit a moment later would answer):
        GitOps syncs and retries send the same object many times at once, and each copy used
        to run the engine. `subject` names a door-made BLOCK (gate unconfigured, backstop)."""
        scenario: Scenario = "T1" if isinstance(inputs, MigrationInputs) else "T2"
        if ask.engine is None:
            return await self._settle(ask, self._unconfigured(scenario, ask, subject))
        leader = self._inflight.get(key) if key is not None else None
        if leader is not None:
            start = time.monotonic()
            try:
                shared = await asyncio.wait_for(asyncio.shield(leader), ask.budget)
            except TimeoutError:
                return await self._settle(ask, self._backstop(ask, scenario, subject))
            if shared is not None:
                return await self._settle(ask, restamped(shared, ask.request_id))
            # the leader had nothing to share (it failed): decide, within what is left
            left = max(ask.budget - (time.monotonic() - start), 0.0)
            ask = dataclasses.replace(ask, budget=left)
        decision = await self._lead(
            ask, inputs, reasons=reasons, warnings=warnings, scenario=scenario, subject=subject,
            key=key,
        )  # fmt: skip
        return await self._settle(ask, decision)

    async def _lead(
        self,
        ask: Ask,
        inputs: MigrationInputs | ReplicationInputs,
        *,
        reasons: Sequence[Reason],
        warnings: Sequence[Reason],
        scenario: Scenario,
        subject: dict[str, str] | None,
        key: str | None,
    ) -> Decision:
        """Decide `inputs` once, and let requests with the same key wait for the result."""
        assert ask.engine is not None
        shared: Decision | None = None
        mine: asyncio.Future[Decision | None] | None = None
        if key is not None:
            mine = self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            decision = await self._run_engine(ask, ask.engine, inputs)
            if decision is None:
                return self._backstop(ask, scenario, subject)
            decision = merge(decision, reasons, warnings)
            if key is not None:
                self.cache.remember(key, decision, inputs)
            shared = decision if cacheable(decision) else None
            return decision
        finally:
            if mine is not None and key is not None:
                if self._inflight.get(key) is mine:
                    del self._inflight[key]
                mine.set_result(shared)

    async def settle(self, ask: Ask, decision: Decision) -> Decision:
        """Record and count a decision the door already holds (a cache hit, its own refusal);
        an unconfigured gate answers `gate-config-invalid` instead, whatever the door held."""
        if ask.engine is None:
            decision = self._unconfigured(decision.scenario, ask, decision.subject)
        return await self._settle(ask, decision)

    async def _settle(self, ask: Ask, decision: Decision) -> Decision:
        result = await self.record_async(decision, source=ask.source, dry_run=ask.dry_run)
        self.metrics.observe_decision(result, source=ask.source, dry_run=ask.dry_run)
        return result

    def _unconfigured(
        self, scenario: Scenario, ask: Ask, subject: dict[str, str] | None
    ) -> Decision:
        why = self.state.errors.get("policy") or self.state.errors.get("trust") or "unknown"
        return door_block(
            ask, scenario, policy="gate-config-invalid", field="gate", step="load",
            message=f"the gate is not configured: {why}", subject=subject,
        )  # fmt: skip

    async def _run_engine(
        self,
        ask: Ask,
        engine: Engine,
        inputs: MigrationInputs | ReplicationInputs,
    ) -> Decision | None:
        """The engine's decision from the door's pool, or None when the backstop fired.

        The budget runs from now, queueing included: a decision that waited for a thread past
        it is answered `deadline-exceeded` by the backstop and never started."""
        deadline = time.monotonic() + ask.budget
        future: asyncio.Future[Decision | None] = self.pools[ask.source].submit(
            lambda: _engine_decision(engine, inputs, ask, deadline)
        )

        def backstop() -> None:
            if not future.done():
                future.set_result(None)  # the worker's late answer is then dropped

        timer = asyncio.get_running_loop().call_later(ask.budget + BACKSTOP_GRACE, backstop)
        try:
            return await future
        finally:
            timer.cancel()

    def _backstop(self, ask: Ask, scenario: Scenario, subject: dict[str, str] | None) -> Decision:
        log.error(
            "engine did not return within %.3gs",
            ask.budget,
            extra={"event": "deadline-backstop", "request_id": ask.request_id},
        )
        return door_block(
            ask, scenario, policy="deadline-exceeded", field="deadline", step="deadline",
            message=f"no decision within the {ask.budget:g}s {ask.source} deadline",
            subject=subject,
        )  # fmt: skip


def _engine_decision(
    engine: Engine, inputs: MigrationInputs | ReplicationInputs, ask: Ask, deadline: float
) -> Decision | None:
    """The one call into the engine, for every door."""
    if isinstance(inputs, MigrationInputs):
        return engine.validate_migration(
            inputs, env=ask.env, request_id=ask.request_id, dry_run=ask.dry_run, deadline=deadline
        )
    return engine.validate_replication(
        inputs, env=ask.env, request_id=ask.request_id, dry_run=ask.dry_run, deadline=deadline
    )
