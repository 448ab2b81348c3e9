"""What a real gate prints and serves: no `_created` series on /metrics, random request ids."""

from __future__ import annotations

import re

from tests.integration.conftest import EXAMPLES, Gate

T1 = EXAMPLES / "t1_good"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
FILES = ("migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json")


def test_metrics_have_no_created_series(gate: Gate) -> None:
    with gate.client() as c:
        files = {n: (n, (T1 / n).read_bytes()) for n in FILES}
        r = c.post(f"{gate.api}/api/v1/validate/migration", files=files, headers=gate.auth())
        assert r.status_code == 200, r.text
        text = c.get(f"{gate.metrics}/metrics").text
    # the counters and the histogram the decision moved are there...
    assert re.search(r'^migration_gate_decisions_total\{[^}]*source="api"[^}]*\} 1\.0$', text, re.M)
    assert "migration_gate_request_duration_seconds_bucket{" in text
    # ...without a _created companion for any of them
    assert [line for line in text.splitlines() if "_created" in line] == []


def test_request_ids_are_random_not_a_counter(gate: Gate) -> None:
    with gate.client() as c:
        ids = [c.get(f"{gate.metrics}/livez").headers["x-request-id"] for _ in range(4)]
    assert all(UUID4.fullmatch(i) for i in ids), ids
    # a per-process prefix plus a counter shares everything but the last group
    assert len({i.split("-")[0] for i in ids}) == len(ids), ids
    assert len({i[-12:] for i in ids}) == len(ids), ids
