"""Real `migration-gate serve` replicas on one PostgreSQL database: one chain under
concurrency, under kill -9, and across a database restart."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.conftest import Gate, metric_value, scrape
from tests.postgres.cluster import WRITER_PW, Cluster
from tests.postgres.replicas import Outcome, drive, start_replica
from webhook.audit import verify_path
from webhook.audit.target import PostgresTarget, parse_target

WAIT_S = 60.0  # an upper bound on waiting for a state, never a measured threshold


def stored_uids(cluster: Cluster, url: str) -> list[str]:
    target = parse_target(url, environ={})
    assert isinstance(target, PostgresTarget)
    with cluster.admin(dbname=target.dbname) as conn:
        return [str(r[0]) for r in conn.execute("SELECT request_id FROM audit_log").fetchall()]


def readyz(gate: Gate) -> tuple[int, str]:
    try:
        r = httpx.get(gate.metrics + "/readyz", timeout=10)
    except httpx.HTTPError as exc:
        return 0, str(exc)
    return r.status_code, r.text


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not reached within {WAIT_S:g} s: {what}")


def alerts(gate: Gate) -> list[dict[str, Any]]:
    with gate.client() as c:
        r = c.get(gate.api + "/api/v1/alerts", headers=gate.auth("viewer"))
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["alerts"]
    return found


def background(
    gates: list[Gate], outcome: Outcome, stop: threading.Event, concurrency: int = 4
) -> threading.Thread:
    """Steady load on `gates` until `stop`, in its own thread and event loop."""

    async def run() -> None:
        await asyncio.gather(
            *(drive(g, 100_000, outcome, concurrency=concurrency, prefix=f"bg{k}-", stop=stop)
              for k, g in enumerate(gates))
        )  # fmt: skip

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    return thread


def no_password_in(gate: Gate) -> None:
    assert WRITER_PW not in gate.stderr.read_text()
    assert WRITER_PW not in gate.stdout.read_text()
    assert WRITER_PW not in readyz(gate)[1]


def test_three_replicas_3000_decisions_one_chain(
    pg_url: str, cluster: Cluster, password_file: Path, tmp_path: Path
) -> None:
    gates = [start_replica(tmp_path, pg_url, password_file, "r0")]
    gates += [
        start_replica(tmp_path, pg_url, password_file, f"r{k}", tls_from=gates[0]) for k in (1, 2)
    ]
    try:
        for g in gates:
            wait_for(lambda g=g: readyz(g)[0] == 200, "replica ready")
        outcome = Outcome()

        async def load() -> None:
            await asyncio.gather(
                *(drive(g, 1000, outcome, prefix=f"r{k}-") for k, g in enumerate(gates))
            )

        asyncio.run(load())
        assert outcome.failed == 0 and len(outcome.answered) == 3000
        assert outcome.recorded_uids() == set(outcome.answered)  # none was audit-write-failed
        blocked = sum(1 for allowed, _ in outcome.answered.values() if not allowed)
        assert blocked == 1500
        uids = stored_uids(cluster, pg_url)
        assert len(uids) == 3000 and set(uids) == set(outcome.answered)
        result = verify_path(pg_url)
        assert result.ok and result.checked == 3000 and result.head_seq == 3000
        # alerts: grouped across the replicas (one group per policy), the same on every one
        seen = [alerts(g) for g in gates]
        assert seen[0] and seen[0] == seen[1] == seen[2]
        assert all(a["count"] == 1500 for a in seen[0])
        first = seen[0][0]["id"]
        with gates[0].client() as c:
            r = c.post(f"{gates[0].api}/api/v1/alerts/{first}/ack", headers=gates[0].auth())
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        for g in gates[1:]:
            mine = {a["id"]: a for a in alerts(g)}
            assert mine[first]["status"] == "acknowledged"
            assert mine[first]["acked_by"] == "operator-user"
        for g in gates:
            no_password_in(g)
    finally:
        for g in gates:
            g.stop()


def test_kill_9_of_a_replica_20_times_while_others_write(
    pg_url: str, cluster: Cluster, password_file: Path, tmp_path: Path
) -> None:
    """Each victim is killed after a random number (1..40) of its calls returned, plus a random
    fraction of a batch: inside a batch, a commit, or between them."""
    steady = [start_replica(tmp_path, pg_url, password_file, "s0")]
    steady.append(start_replica(tmp_path, pg_url, password_file, "s1", tls_from=steady[0]))
    stop = threading.Event()
    outcome = Outcome()
    killed = Outcome()
    rng = random.Random(13)
    thread = background(steady, outcome, stop, concurrency=2)
    try:
        for round_ in range(20):
            victim = start_replica(
                tmp_path, pg_url, password_file, f"v{round_}", tls_from=steady[0]
            )
            halt = threading.Event()
            target = len(killed.answered) + rng.randint(1, 40)
            delay = rng.uniform(0.0, 0.02)

            def on_answer(
                count: int,
                victim: Gate = victim,
                halt: threading.Event = halt,
                target: int = target,
                delay: float = delay,
            ) -> None:
                if count >= target and not halt.is_set():
                    halt.set()
                    threading.Timer(delay, victim.proc.kill).start()  # SIGKILL, wherever it is

            asyncio.run(
                drive(victim, 100_000, killed, concurrency=8, prefix=f"v{round_}-",
                      stop=halt, on_answer=on_answer)
            )  # fmt: skip
            victim.proc.kill()
            assert victim.proc.wait(30) == -9
    finally:
        stop.set()
        thread.join(60)
        for g in steady:
            g.stop()
    assert len(killed.answered) >= 20
    result = verify_path(pg_url)
    assert result.ok, result.reason
    stored = set(stored_uids(cluster, pg_url))
    assert len(stored) == result.checked
    promised = outcome.recorded_uids() | killed.recorded_uids()
    assert promised <= stored, f"{len(promised - stored)} answered decisions missing"


def test_database_stopped_and_restarted_under_load(
    pg_url: str, cluster: Cluster, password_file: Path, tmp_path: Path
) -> None:
    gates = [start_replica(tmp_path, pg_url, password_file, "d0")]
    gates.append(start_replica(tmp_path, pg_url, password_file, "d1", tls_from=gates[0]))
    stop = threading.Event()
    outcome = Outcome()
    thread = background(gates, outcome, stop)
    try:
        wait_for(lambda: len(outcome.answered) >= 100, "load running")
        before = [
            metric_value(scrape(g), "migration_gate_audit_write_failures_total") for g in gates
        ]
        cluster.stop("fast")
        try:
            for g in gates:
                wait_for(lambda g=g: readyz(g)[0] == 503, "/readyz false while the db is down")
                assert "audit" in readyz(g)[1]
            down = Outcome()
            asyncio.run(drive(gates[0], 20, down, bad_every=None, prefix="down-"))
            # every call answered, and every answer a BLOCK naming the audit store
            assert down.failed == 0 and len(down.answered) == 20
            assert all(not ok and "audit-write-failed" in p for ok, p in down.answered.values())
            for g, was in zip(gates, before, strict=True):
                now = metric_value(scrape(g), "migration_gate_audit_write_failures_total")
                assert now > was
        finally:
            cluster.start()
        for g in gates:
            wait_for(lambda g=g: readyz(g)[0] == 200, "/readyz true once the db is back")
        after = Outcome()
        asyncio.run(drive(gates[1], 20, after, bad_every=None, prefix="after-"))
        assert after.failed == 0
        assert all(ok for ok, _ in after.answered.values()), "ALLOW again after the restart"
        mark = len(outcome.answered)
        wait_for(lambda: len(outcome.answered) > mark + 50, "the steady load recovered")
    finally:
        stop.set()
        thread.join(60)
        for g in gates:
            g.stop()
    result = verify_path(pg_url)
    assert result.ok, result.reason
    stored = set(stored_uids(cluster, pg_url))
    promised = outcome.recorded_uids() | after.recorded_uids()
    assert promised <= stored, f"{len(promised - stored)} answered decisions missing"
    assert not set(down.answered) & stored  # the BLOCKs while down were never recorded
    for g in gates:
        no_password_in(g)
