"""Live reload against a real `serve` process (issue 15): good -> broken -> good changed.

The bundle and the trust store are mounted exactly like kubelet mounts a ConfigMap/Secret volume
(symlinks through `..data`, updated by an atomic swap), and each change arrives both ways: a
SIGHUP (polling off) and the watcher's polling (no signal). A broken bundle is refused: the last
good one keeps deciding, /readyz stays ready and names the error; a good changed bundle then
decides, through both doors, even for an object whose ALLOW the decision cache holds.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import (
    EXAMPLES,
    TOKENS,
    Gate,
    metric_value,
    post_review,
    review,
    scrape,
)
from tests.integration.test_examples_parity import api_files, migration_request
from tests.unit.server.test_srv_reload import BROKEN_YAML, DEFAULT, STRICTER, kubelet_write

GOOD = EXAMPLES / "t1_good"
#: how long a change may take to be seen (a generous bound for a loaded CI box, not a measurement)
WAIT = 30.0


def readyz(gate: Gate) -> httpx.Response:
    return httpx.get(gate.metrics + "/readyz", timeout=10)


def wait_for(what: str, ok: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT}s: {what}")
        time.sleep(0.05)


def decide_api(gate: Gate) -> dict[str, Any]:
    with gate.client() as c:
        r = c.post(
            gate.api + "/api/v1/validate/migration", files=api_files(GOOD), headers=gate.auth()
        )
    assert r.status_code in (200, 422), r.text
    body: dict[str, Any] = r.json()
    return body


def decide_admission(gate: Gate) -> dict[str, Any]:
    body = review(
        migration_request(GOOD), uid=str(uuid.uuid4()), group="migrationgate.io",
        version="v1alpha1", kind="MigrationRequest",
    )  # fmt: skip
    return post_review(gate, body)


class Mounts:
    def __init__(self, tmp: Path) -> None:
        self.policy, self.trust = tmp / "policy", tmp / "trust"
        kubelet_write(self.policy, {"policy.yaml": DEFAULT})
        kubelet_write(self.trust, {"signer.pem": next((GOOD / "trust").iterdir()).read_text()})

    def args(self, interval: str) -> list[str]:
        return [
            "--policy", str(self.policy / "policy.yaml"), "--trust-dir", str(self.trust),
            "--reload-interval", interval,
        ]  # fmt: skip


@pytest.mark.parametrize("trigger", ["sighup", "poll"])
def test_good_then_broken_keeps_the_last_good_then_good_changed_decides(
    gate_factory: Any, tmp_path: Path, trigger: str
) -> None:
    mounts = Mounts(tmp_path / "mounts")
    interval = "0" if trigger == "sighup" else "0.2"
    gate: Gate = gate_factory(*mounts.args(interval), tokens=dict(TOKENS))

    def change(text: str) -> None:
        kubelet_write(mounts.policy, {"policy.yaml": text})
        if trigger == "sighup":
            gate.proc.send_signal(signal.SIGHUP)

    first = readyz(gate)
    assert first.status_code == 200, first.text
    good_digest = first.json()["bundle"]
    assert first.json()["reload"] == {"status": "ok"}
    assert decide_api(gate)["decision"] == "ALLOW"
    assert decide_admission(gate)["allowed"] is True  # now in the decision cache

    # ---- a broken bundle: refused, the last good keeps deciding, /readyz says so
    change(BROKEN_YAML)
    wait_for("the refusal on /readyz", lambda: readyz(gate).json()["reload"]["status"] != "ok")
    ready = readyz(gate)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["bundle"] == good_digest
    assert body["reload"]["status"] == "refused" and body["reload"]["what"] == "policy"
    assert body["reload"]["file"] == str(mounts.policy / "policy.yaml")
    assert "invalid YAML" in body["reload"]["error"]
    api = decide_api(gate)
    assert api["decision"] == "ALLOW" and api["policy_bundle"] == good_digest
    assert decide_admission(gate)["allowed"] is True
    text = scrape(gate)
    assert metric_value(text, "migration_gate_reload_failures_total", what="policy") == 1
    assert metric_value(text, "migration_gate_reloads_total", what="policy") == 0
    (failed,) = [ln for ln in gate.log_lines() if ln.get("event") == "reload-failed"]
    assert failed["file"] == str(mounts.policy / "policy.yaml") and failed["level"] == "error"
    assert gate.proc.poll() is None  # SIGHUP never stops the gate

    # ---- a good changed bundle: swapped in; both doors decide with it at once
    change(STRICTER)
    wait_for("the new bundle on /readyz", lambda: readyz(gate).json()["bundle"] != good_digest)
    body = readyz(gate).json()
    new_digest = body["bundle"]
    assert body["status"] == "ready" and body["reload"] == {"status": "ok"}
    api = decide_api(gate)
    assert api["decision"] == "BLOCK" and api["policy_bundle"] == new_digest
    assert "secrets-ref-required" in {r["policy"] for r in api["reasons"]}
    adm = decide_admission(gate)  # the cached ALLOW of the old bundle is never served
    assert adm["allowed"] is False and "secrets-ref-required" in adm["status"]["message"]
    text = scrape(gate)
    assert metric_value(text, "migration_gate_reloads_total", what="policy") == 1
    assert metric_value(text, "migration_gate_reload_failures_total", what="policy") == 1
    (done,) = [ln for ln in gate.log_lines() if ln.get("event") == "reloaded"]
    assert done["old_digest"] == good_digest and done["new_digest"] == new_digest


def test_a_trust_swap_to_no_key_blocks_prod_and_back_is_ready(
    gate_factory: Any, tmp_path: Path
) -> None:
    """Same bundle, the Secret's keys removed: applied (fail closed), not cached around."""
    mounts = Mounts(tmp_path / "mounts")
    gate: Gate = gate_factory(*mounts.args("0.2"), tokens=dict(TOKENS))
    key = next((GOOD / "trust").iterdir()).read_text()
    assert decide_admission(gate)["allowed"] is True
    kubelet_write(mounts.trust, {})
    wait_for("the empty trust store", lambda: readyz(gate).json()["trusted_keys"] == 0)
    assert readyz(gate).status_code == 503  # no key: not ready (no --allow-empty-trust)
    adm = decide_admission(gate)
    assert adm["allowed"] is False and "trust-store-empty" in adm["status"]["message"]
    kubelet_write(mounts.trust, {"signer.pem": key})
    wait_for("the key back", lambda: readyz(gate).status_code == 200)
    assert decide_admission(gate)["allowed"] is True
    text = scrape(gate)
    assert metric_value(text, "migration_gate_reloads_total", what="trust") == 2
