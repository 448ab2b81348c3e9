"""An empty trust store is no trust (issue 11 item 1): /readyz and the start-up log say so.

Before, /readyz reported `trust: ok` for a gate with no key at all, while every prod decision
must BLOCK for want of a verifiable signature: an operator saw a ready gate that could never
ALLOW prod (or, before the engine fix, one that ALLOWed unsigned prod).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
from pathlib import Path

import httpx
import pytest

from webhook.audit import open_store
from webhook.pipelines import Engine
from webhook.policies import load_bundle
from webhook.server.app import build_apps, trust_status
from webhook.server.gate import GateState
from webhook.server.run import load_state
from webhook.server.settings import ServerSettings

TRUST = Path(__file__).resolve().parents[3] / "examples" / "t1_good" / "trust"
EMPTY = "trust store empty: every prod decision BLOCKs; configure --trust-dir"


def readyz(tmp_path: Path, engine: Engine, *, allow_empty_trust: bool = False) -> httpx.Response:
    store = open_store(tmp_path / "audit.db")
    settings = ServerSettings(state_dir=tmp_path, allow_empty_trust=allow_empty_trust)
    apps = build_apps(settings, GateState(engine=engine, store=store), None)

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=apps.ops)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            return await c.get("/readyz")

    try:
        return asyncio.run(main())
    finally:
        apps.gate.close()
        store.close()


@pytest.mark.parametrize("how", ["no --trust-dir", "empty directory", "no key files"])
def test_readyz_is_not_ready_without_a_trusted_key(tmp_path: Path, how: str) -> None:
    trust: Path | None = None
    if how != "no --trust-dir":
        trust = tmp_path / "trust"
        trust.mkdir()
        if how == "no key files":
            (trust / "README.txt").write_text("keys go here\n")  # not a *.pem / *.pub
    resp = readyz(tmp_path, Engine.load(None, trust))
    assert resp.status_code == 503
    assert resp.json()["status"] == "not-ready"
    assert resp.json()["components"]["trust"].startswith(EMPTY)


def test_readyz_is_ready_with_a_key(tmp_path: Path) -> None:
    resp = readyz(tmp_path, Engine.load(None, TRUST))
    assert resp.status_code == 200 and resp.json()["components"]["trust"] == "ok"


def test_allow_empty_trust_is_ready_but_still_says_so(tmp_path: Path) -> None:
    settings = ServerSettings.from_args(
        argparse.Namespace(), environ={"MIGRATION_GATE_ALLOW_EMPTY_TRUST": "true"}
    )
    assert settings.allow_empty_trust is True
    resp = readyz(tmp_path, Engine.load(None, None), allow_empty_trust=True)
    assert resp.status_code == 200 and resp.json()["status"] == "ready"
    trust = resp.json()["components"]["trust"]
    assert trust.startswith(EMPTY) and trust.endswith("(ready anyway: --allow-empty-trust)")


def test_fewer_keys_than_the_threshold_is_not_ready(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "webhook/policies/default.yaml").read_text()
    assert "threshold: 1}" in text
    bundle = load_bundle(text.replace("threshold: 1}", "threshold: 2}").encode(), source="b.yaml")
    engine = Engine(bundle, Engine.load(None, TRUST).trust_store)
    assert engine.threshold == 2
    status = trust_status(engine)
    assert status.startswith("trust store holds 1 key(s), fewer than the signature threshold 2")


def test_start_up_log_says_the_store_is_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = tmp_path / "trust"
    empty.mkdir()
    settings = ServerSettings(state_dir=tmp_path, trust_dir=empty)
    with caplog.at_level(logging.ERROR, logger="migration_gate.serve"):
        state = load_state(settings)
    assert state.engine is not None
    found = [r for r in caplog.records if getattr(r, "event", None) == "trust-store-empty"]
    assert len(found) == 1 and EMPTY in found[0].getMessage()
    if state.store is not None:
        state.store.close()
    caplog.clear()
    keyed = tmp_path / "keyed"
    shutil.copytree(TRUST, keyed)
    with caplog.at_level(logging.ERROR, logger="migration_gate.serve"):
        state = load_state(ServerSettings(state_dir=tmp_path, trust_dir=keyed))
    assert not [r for r in caplog.records if getattr(r, "event", None) == "trust-store-empty"]
    if state.store is not None:
        state.store.close()
