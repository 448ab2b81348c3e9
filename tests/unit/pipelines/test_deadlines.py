"""Issue 11 item 7: the deadline holds inside steps, in the policy loop and in finish().

Time is a fake monotonic clock that only the test (or a deliberately "slow" check) advances:
no wall-clock threshold anywhere. Before the change the deadline was checked only before each
step, so a slow last step (the policies) still produced an ALLOW after the deadline.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from webhook.artifacts import migration_inputs, replication_inputs
from webhook.contracts.decision import Decision
from webhook.errors import DeadlineExceeded
from webhook.integrity import TrustStore
from webhook.pipelines import Engine, ReplicationInputs
from webhook.pipelines.report import Report
from webhook.policies import REGISTRY, PolicyContext, SignatureFacts, Violation, load_bundle
from webhook.policies.engine import evaluate

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
TRUST = EXAMPLES / "t1_good" / "trust"


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


CLOCK = FakeClock()
RAN: list[str] = []


@pytest.fixture(autouse=True)
def _slow_checks() -> Iterator[None]:
    """Two scratch checks: `slow` spends 10 fake seconds, `after` records that it ran."""
    CLOCK.t = 0.0
    RAN.clear()

    @REGISTRY.register("test-slow", scenarios=("T1", "T2"), reads="signature")
    def slow(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
        RAN.append("slow")
        CLOCK.t += 10
        return iter(())

    @REGISTRY.register("test-after", scenarios=("T1", "T2"), reads="signature")
    def after(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
        RAN.append("after")
        return iter(())

    yield
    REGISTRY.unregister("test-slow")
    REGISTRY.unregister("test-after")


def slow_bundle(*checks: str) -> Any:
    default = resources.files("webhook.policies").joinpath("default.yaml").read_text()
    extra = "".join(
        f"  - {{id: {c}, check: {c}, severity: low, description: x,"
        " actions: {prod: enforce, staging: enforce}}\n"
        for c in checks
    )
    return load_bundle((default + extra).encode(), source="slow.yaml")


def engine(*checks: str) -> Engine:
    return Engine(slow_bundle(*checks), TrustStore.from_dir(TRUST), clock=CLOCK)


def deadline_reasons(d: Decision) -> list[str]:
    return [r.field for r in d.reasons if r.policy == "deadline-exceeded"]


# ---- the policy loop ----


def test_policy_loop_stops_between_checks() -> None:
    ctx = PolicyContext(
        scenario="T1",
        env="prod",
        config={},
        signature=SignatureFacts(True, True, True),
    )
    bundle = slow_bundle("test-slow", "test-after")
    with pytest.raises(DeadlineExceeded, match="before policy 'test-after'"):
        evaluate(bundle, ctx, deadline=5.0, clock=CLOCK)
    assert RAN == ["slow"]


def test_policy_loop_without_deadline_runs_everything() -> None:
    ctx = PolicyContext(
        scenario="T1", env="prod", config={}, signature=SignatureFacts(True, True, True)
    )
    evaluate(slow_bundle("test-slow", "test-after"), ctx, clock=CLOCK)
    assert RAN == ["slow", "after"]


def test_policy_loop_checks_after_the_last_policy() -> None:
    ctx = PolicyContext(
        scenario="T1", env="prod", config={}, signature=SignatureFacts(True, True, True)
    )
    with pytest.raises(DeadlineExceeded, match="after the last policy"):
        evaluate(slow_bundle("test-slow"), ctx, deadline=5.0, clock=CLOCK)


# ---- through the engine ----


def test_slow_last_step_cannot_allow_after_the_deadline(t1: Path) -> None:
    d = engine("test-slow").validate_migration(migration_inputs(t1), deadline=5.0)
    assert d.decision == "BLOCK"
    assert deadline_reasons(d) == ["policies"]


def test_the_same_slow_step_allows_within_its_deadline(t1: Path) -> None:
    d = engine("test-slow").validate_migration(migration_inputs(t1), deadline=15.0)
    assert d.decision == "ALLOW", [r.line() for r in d.reasons]


def test_slow_t2_policies(t2: Path) -> None:
    d = engine("test-slow", "test-after").validate_replication(replication_inputs(t2), deadline=5.0)
    assert deadline_reasons(d) == ["policies"] and RAN == ["slow"]


class SlowWal(Mapping[str, bytes]):
    """WAL files that take 1 fake second each to read."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = dict(files)

    def __getitem__(self, name: str) -> bytes:
        CLOCK.t += 1
        return self.files[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def test_wal_loop_stops_inside_the_step(t2: Path) -> None:
    base = replication_inputs(t2)
    wal = {n: p.read_bytes() for n, p in base.wal_files.items() if isinstance(p, Path)}
    assert len(wal) == 3
    inputs = ReplicationInputs(
        manifest=base.manifest,
        snapshot=base.snapshot,
        wal_files=SlowWal(wal),
        attestation=base.attestation,
    )
    d = engine().validate_replication(inputs, deadline=1.5)
    assert deadline_reasons(d) == ["compute-checksums"]
    assert "before hashing" in next(r.message for r in d.reasons if r.field == "compute-checksums")
    hashed = [k for k in d.digests if k.startswith("wal_files/")]
    assert len(hashed) == 2  # the third was never read
    assert [s.name for s in d.steps if s.detail] == [
        "compare-hashes",
        "verify-attestation",
        "policies",
    ]


# ---- the report itself ----


def report(deadline: float | None) -> Report:
    return Report(
        scenario="T1",
        request_id="r",
        bundle_digest="sha256:x",
        now=datetime(2030, 1, 1, tzinfo=UTC),
        dry_run=False,
        deadline=deadline,
        clock=CLOCK,
    )


def test_finish_blocks_when_the_deadline_passed_after_every_step() -> None:
    r = report(5.0)
    r.run("only", lambda: None)
    CLOCK.t = 6.0
    d = r.finish()
    assert d.decision == "BLOCK" and deadline_reasons(d) == ["finish"]


def test_finish_within_the_deadline_allows() -> None:
    r = report(5.0)
    r.run("only", lambda: None)
    CLOCK.t = 5.0  # not past it
    assert r.finish().decision == "ALLOW"


def test_a_step_that_ends_late_is_the_deadline() -> None:
    r = report(5.0)

    def slow() -> None:
        CLOCK.t += 10

    r.run("slow", slow)
    r.run("next", lambda: None)
    d = r.finish()
    assert deadline_reasons(d) == ["slow"]  # once, not again in finish
    assert [(s.name, s.ok, s.detail) for s in d.steps] == [
        ("slow", False, None),
        ("next", False, "skipped: deadline exceeded"),
    ]


def test_check_deadline_inside_a_step() -> None:
    r = report(5.0)
    seen: list[int] = []

    def loop() -> None:
        for i in range(10):
            r.check_deadline(f"item {i}")
            seen.append(i)
            CLOCK.t += 1

    r.run("loop", loop)
    assert seen == [0, 1, 2, 3, 4, 5]
    assert "item 6" in r.finish().reasons[0].message
