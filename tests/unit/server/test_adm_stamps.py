"""Cheap per-request stamps: the cache hit's re-stamp, the timestamps and the access line.

Each replaces a stdlib/pydantic call on the hot path; each must give exactly what that call gave.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_examples_parity import migration_request
from webhook.contracts.decision import Decision, Reason, Step
from webhook.pipelines import Engine
from webhook.pipelines.report import rfc3339
from webhook.server.cache import DecisionCache
from webhook.server.logs import AccessLog, access_line, log_timestamp, utc_timestamp
from webhook.server.metrics import GateMetrics
from webhook.server.objects import SnapshotPolicy, convert

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def cache_hit(decision: Decision, request_id: str) -> Decision:
    """What a DecisionCache hands out for `decision` under a new request id."""
    cache = DecisionCache(60)
    cache.put("k", decision)
    hit = cache.get("k", request_id)
    assert hit is not None
    return hit


def engine_decision(folder: str) -> Decision:
    engine = Engine.load(None, EXAMPLES / folder / "trust")
    converted = convert(
        "MigrationRequest", migration_request(EXAMPLES / folder), SnapshotPolicy(None, 0)
    )
    return engine.validate_migration(converted.inputs, request_id="first", dry_run=False)


@pytest.mark.parametrize("folder", ["t1_good", "t1_bad_tls_disabled"])
def test_a_cache_hit_is_the_stored_decision_restamped(folder: str) -> None:
    original = engine_decision(folder)
    fast = cache_hit(original, "second")
    ts = fast.timestamp
    slow = original.model_copy(update={"request_id": "second", "timestamp": ts})
    assert fast == slow
    assert fast.model_dump(mode="json") == slow.model_dump(mode="json")
    assert fast.to_json() == slow.to_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.__pydantic_extra__ == slow.__pydantic_extra__
    assert fast.__pydantic_private__ == slow.__pydantic_private__
    assert original.request_id == "first"  # the cached decision is untouched
    assert fast.__dict__ is not original.__dict__


def test_a_restamped_decision_is_still_frozen_and_copyable() -> None:
    hit = cache_hit(engine_decision("t1_good"), "r")
    with pytest.raises(ValueError, match="frozen"):
        hit.request_id = "other"  # type: ignore[misc]
    blocked = hit.model_copy(update={"decision": "BLOCK"})
    assert blocked.decision == "BLOCK" and blocked.request_id == "r"


def test_cache_hits_carry_their_own_id_and_a_current_timestamp() -> None:
    cache = DecisionCache(60)
    decision = engine_decision("t1_good")
    cache.put("k", decision)
    before = datetime.now(UTC)
    hit = cache.get("k", "req-2")
    after = datetime.now(UTC)
    assert hit is not None and hit.request_id == "req-2"
    stamped = datetime.fromisoformat(hit.timestamp.replace("Z", "+00:00"))
    assert before <= stamped <= after
    assert hit.reasons == decision.reasons and hit.steps == decision.steps


def test_timestamps_have_the_stdlib_format() -> None:
    for _ in range(2000):
        us_before, fast_us, us_after = datetime.now(UTC), utc_timestamp(), datetime.now(UTC)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fast_us)
        assert rfc3339(us_before) <= fast_us <= rfc3339(us_after)
        ms_before, fast_ms = datetime.now(UTC), log_timestamp()
        ms_after = datetime.now(UTC)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", fast_ms)
        low = ms_before.isoformat(timespec="milliseconds")
        assert low <= fast_ms <= ms_after.isoformat(timespec="milliseconds")


def test_timestamps_follow_the_clock_across_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock stepping over second, day and year boundaries: each text is the datetime one."""
    instants = [
        1_767_225_599_999_999_999,  # 2025-12-31T23:59:59.999999999
        1_767_225_600_000_000_000,
        1_767_225_600_000_999_000,
        1_767_225_600_999_500_000,
        1_767_225_601_000_000_001,
        1_767_225_599_500_000_000,  # the clock stepped back: re-formatted, not reused
        1_798_761_599_123_456_789,
    ]
    for ns in instants:
        monkeypatch.setattr(time, "time_ns", lambda ns=ns: ns)
        when = datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(
            microsecond=ns % 1_000_000_000 // 1000
        )
        assert utc_timestamp() == rfc3339(when)
        assert log_timestamp() == when.isoformat(timespec="milliseconds")


def reference_line(
    ts: str, request_id: str, door: str, scope: dict[str, Any], status: int, ms: float,
    state: dict[str, Any],
) -> str:  # fmt: skip
    """What AccessLog wrote before: the dict, json.dumps(ensure_ascii=False)."""
    line: dict[str, Any] = {
        "ts": ts, "level": "info", "logger": "migration_gate.access", "msg": "request",
        "request_id": request_id, "door": door, "method": scope.get("method"),
        "path": scope.get("path"), "status": status, "duration_ms": ms,
    }  # fmt: skip
    if "decision" in state:
        line["decision"] = state["decision"]
    if "principal" in state:
        line["principal"] = state["principal"]
    return json.dumps(line, ensure_ascii=False)


ODD = "".join(chr(c) for c in range(0x00, 0x100)) + "\u2028\U0001f600\"\\\ud800"


@pytest.mark.parametrize(
    ("scope", "status", "ms", "state"),
    [
        ({"method": "POST", "path": "/admission/v1/validate"}, 200, 0.312, {"decision": "ALLOW"}),
        ({"method": "GET", "path": "/api/v1/audit/logs"}, 403, 12.5, {"principal": "ops"}),
        ({"method": "POST", "path": "/x"}, 500, 0.0, {"decision": "SKIP", "principal": "a"}),
        ({"method": "POST", "path": ODD}, 413, 1234.567, {"principal": ODD}),
        ({"path": "/no-method"}, 404, 0.001, {}),
        ({"method": "POST", "path": "/x"}, True, 0.5, {"decision": None}),  # type: ignore[dict-item]
        ({"method": "POST", "path": "/x"}, 200, 0.5, {"principal": 7, "decision": "BLOCK"}),
        ({"method": b"POST", "path": "/x"}, 200, 1e-3, {"request_id": "ignored"}),
    ],
)
def test_access_line_is_the_stdlib_line(
    scope: dict[str, Any], status: int, ms: float, state: dict[str, Any]
) -> None:
    ts = "2026-11-25T16:05:34.123+00:00"

    def line() -> str:
        return access_line(
            ts=ts, request_id="rid-1", door="admission", scope=scope, status=status,
            duration_ms=ms, state=state,
        )  # fmt: skip

    if isinstance(scope.get("method"), bytes):  # as before: not JSON, the caller sees it
        with pytest.raises(TypeError):
            reference_line(ts, "rid-1", "admission", scope, status, ms, state)
        with pytest.raises(TypeError):
            line()
        return
    assert line() == reference_line(ts, "rid-1", "admission", scope, status, ms, state)


def test_access_line_durations_are_written_like_json() -> None:
    scope = {"method": "POST", "path": "/p"}
    for k in [*range(0, 5000), *range(10**6, 10**6 + 3000), 10**12 + 1, 10**15 - 1]:
        ms = round(k / 1000 + 0.0004, 3)
        line = access_line(
            ts="t", request_id="r", door="d", scope=scope, status=200, duration_ms=ms, state={}
        )
        assert line == reference_line("t", "r", "d", scope, 200, ms, {})


def test_access_log_writes_one_line_to_stderr(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="migration_gate.access")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    metrics = GateMetrics()
    log = AccessLog("admission", metrics)
    scope = {"method": "POST", "path": "/admission/v1/validate"}
    log.done(scope, "rid-9", 200, time.perf_counter(), {"decision": "BLOCK"})
    (line,) = err.getvalue().splitlines()
    fields = json.loads(line)
    assert list(fields) == [
        "ts", "level", "logger", "msg", "request_id", "door", "method", "path", "status",
        "duration_ms", "decision",
    ]  # fmt: skip
    assert fields["request_id"] == "rid-9" and fields["decision"] == "BLOCK"
    assert fields["status"] == 200 and isinstance(fields["duration_ms"], float)
    hist = metrics.request_duration.labels(door="admission")
    assert hist._sum.get() > 0  # the duration metric is observed too


def test_an_unused_reason_and_step_keep_their_types() -> None:
    hit = cache_hit(engine_decision("t1_bad_tls_disabled"), "r")
    assert all(isinstance(r, Reason) for r in hit.reasons)
    assert all(isinstance(s, Step) for s in hit.steps)
