"""Live reload (issue 15): the watcher, keep-last-good, the atomic swap, SIGHUP, the cache identity.

Mounted files are updated exactly like kubelet's atomic writer updates a ConfigMap/Secret volume:
a new `..<timestamp>` directory, the files written into it, `..data_tmp` symlinked to it and
renamed over `..data`; each visible file is a symlink through `..data`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.integration.test_examples_parity import migration_request
from tests.unit.server.support import decide_cached
from webhook.audit import open_store
from webhook.contracts.decision import Decision
from webhook.errors import ConfigError
from webhook.pipelines import Engine, MigrationInputs
from webhook.server.app import build_apps
from webhook.server.cache import DecisionCache, engine_identity
from webhook.server.gate import Gate, GateState
from webhook.server.metrics import GateMetrics
from webhook.server.reload import Reloader, Sources, dir_identity, file_identity
from webhook.server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "t1_good"
DEFAULT = (ROOT / "webhook" / "policies" / "default.yaml").read_text()
#: the default bundle with vault:// no longer an accepted secret store: t1_good then BLOCKs
STRICTER = DEFAULT.replace('schemes: ["vault://", ', "schemes: [", 1)
BROKEN_YAML = "apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies: [\n"
UNKNOWN_CHECK = DEFAULT.replace("check: tls-required", "check: no-such-check", 1)
_stamp = itertools.count()


def kubelet_write(mount: Path, files: dict[str, str]) -> None:
    """Kubernetes' AtomicWriter: new timestamped dir, `..data_tmp` -> it, renamed over `..data`."""
    mount.mkdir(parents=True, exist_ok=True)
    ts = f"..2024_01_01_00_00_{next(_stamp):02d}.{os.getpid()}"
    (mount / ts).mkdir()
    for name, text in files.items():
        (mount / ts / name).write_text(text)
    old = os.readlink(mount / "..data") if (mount / "..data").is_symlink() else None
    os.symlink(ts, mount / "..data_tmp")
    os.rename(mount / "..data_tmp", mount / "..data")
    for name in files:
        if not (mount / name).is_symlink():
            os.symlink(f"..data/{name}", mount / name)
    for entry in mount.iterdir():  # a key no longer in the volume: its visible link goes
        if not entry.name.startswith(".") and entry.name not in files:
            entry.unlink()
    if old is not None:
        shutil.rmtree(mount / old)


def key_pem() -> str:
    return next((EXAMPLE / "trust").iterdir()).read_text()


def other_key_pem() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def inputs() -> MigrationInputs:
    return MigrationInputs(
        manifest=(EXAMPLE / "migration_manifest.json").read_bytes(),
        config=(EXAMPLE / "app-config.yaml").read_bytes(),
        signature=(EXAMPLE / "migration_manifest.dsse.json").read_bytes(),
    )


class Mounted:
    """A policy ConfigMap volume and a trust Secret volume, and a Reloader watching both."""

    def __init__(self, tmp: Path, bundle: str = DEFAULT, keys: dict[str, str] | None = None):
        self.policy_dir, self.trust_dir = tmp / "policy", tmp / "trust"
        kubelet_write(self.policy_dir, {"policy.yaml": bundle})
        kubelet_write(self.trust_dir, {"signer.pem": key_pem()} if keys is None else keys)
        self.sources = Sources(self.policy_dir / "policy.yaml", self.trust_dir)
        seen = self.sources.identity()
        self.state = GateState(engine=Engine.load(self.sources.policy, self.trust_dir))
        self.metrics = GateMetrics()
        self.cache = DecisionCache(60)
        self.reloader = Reloader(
            self.state, self.metrics, self.sources, interval=0, cache=self.cache, seen=seen
        )

    def bundle(self, text: str) -> None:
        kubelet_write(self.policy_dir, {"policy.yaml": text})

    def keys(self, keys: dict[str, str]) -> None:
        kubelet_write(self.trust_dir, keys)

    def check(self, force: bool = False) -> str:
        async def main() -> str:
            return await self.reloader.check(trigger="test", force=force)

        return asyncio.run(main())

    def counter(self, name: str, what: str) -> float:
        value = self.metrics.registry.get_sample_value(f"migration_gate_{name}", {"what": what})
        return value or 0.0

    def close(self) -> None:
        self.reloader.close()


@pytest.fixture
def mounted(tmp_path: Path) -> Any:
    m = Mounted(tmp_path)
    yield m
    m.close()


# ---- the watcher ----


def test_a_kubelet_swap_changes_the_resolved_identity_even_with_identical_bytes(
    tmp_path: Path,
) -> None:
    mount = tmp_path / "policy"
    kubelet_write(mount, {"policy.yaml": DEFAULT})
    before = file_identity(mount / "policy.yaml")
    assert before == file_identity(mount / "policy.yaml")  # stable while nothing changes
    assert ".." in before[0]  # the realpath, through ..data into the timestamped dir
    kubelet_write(mount, {"policy.yaml": DEFAULT})
    assert file_identity(mount / "policy.yaml") != before
    # the visible path itself never changed: only resolving it sees the swap
    assert (mount / "policy.yaml").lstat().st_ino == (mount / "policy.yaml").lstat().st_ino


def test_a_plain_file_edited_in_place_changes_identity(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(DEFAULT)
    before = file_identity(path)
    path.write_text(DEFAULT + "# a comment\n")
    assert file_identity(path) != before


def test_trust_dir_identity_sees_swaps_added_and_removed_keys(tmp_path: Path) -> None:
    mount = tmp_path / "trust"
    kubelet_write(mount, {"a.pem": key_pem()})
    first = dir_identity(mount)
    assert first == dir_identity(mount)
    kubelet_write(mount, {"a.pem": other_key_pem()})
    second = dir_identity(mount)
    assert second != first
    kubelet_write(mount, {"a.pem": other_key_pem(), "b.pem": key_pem()})
    assert dir_identity(mount) != second and len(dir_identity(mount)) == 3  # dir + 2 keys


def test_a_missing_file_has_an_identity_and_its_return_is_a_change(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    missing = file_identity(path)
    assert missing[1] == "error"
    path.write_text(DEFAULT)
    assert file_identity(path) != missing


# ---- keep last good, swap only a valid engine ----


def test_nothing_changed_is_no_reload(mounted: Mounted) -> None:
    engine = mounted.state.engine
    assert mounted.check() == "unchanged"
    assert mounted.state.engine is engine


@pytest.mark.parametrize(
    ("bundle", "needle"),
    [(BROKEN_YAML, "policy.yaml"), (UNKNOWN_CHECK, "no-such-check")],
    ids=["bad-yaml", "unknown-check"],
)
def test_an_invalid_bundle_keeps_the_last_good_engine(
    mounted: Mounted, caplog: pytest.LogCaptureFixture, bundle: str, needle: str
) -> None:
    good = mounted.state.engine
    assert good is not None
    mounted.bundle(bundle)
    with caplog.at_level(logging.ERROR, logger="migration_gate.reload"):
        assert mounted.check() == "refused"
    assert mounted.state.engine is good  # the very same object: nothing of the new load
    refused = mounted.state.refused
    assert refused is not None and refused.what == "policy"
    assert refused.file is not None and refused.file.endswith("policy.yaml")
    assert needle in refused.error
    assert mounted.state.errors == {}  # still ready: the last good engine decides
    assert mounted.counter("reload_failures_total", "policy") == 1
    assert mounted.counter("reloads_total", "policy") == 0
    (rec,) = [r for r in caplog.records if getattr(r, "event", None) == "reload-failed"]
    assert rec.__dict__["file"] == refused.file and good.bundle_digest in rec.getMessage()
    # the same broken version is refused once, not again on every tick
    assert mounted.check() == "unchanged"
    assert mounted.counter("reload_failures_total", "policy") == 1


def test_a_bad_trust_key_keeps_the_last_good_bundle_and_trust(mounted: Mounted) -> None:
    good = mounted.state.engine
    mounted.bundle(STRICTER)  # a valid new bundle arrives together with a broken key
    mounted.keys({"signer.pem": "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"})
    assert mounted.check() == "refused"
    assert mounted.state.engine is good  # never the new bundle with the old trust
    assert mounted.state.refused is not None and mounted.state.refused.what == "trust"
    assert mounted.counter("reload_failures_total", "trust") == 1


def test_a_good_changed_bundle_is_swapped_in_and_clears_the_refusal(
    mounted: Mounted, caplog: pytest.LogCaptureFixture
) -> None:
    old = mounted.state.engine
    assert old is not None
    mounted.bundle(BROKEN_YAML)
    assert mounted.check() == "refused"
    mounted.bundle(STRICTER)
    with caplog.at_level(logging.INFO, logger="migration_gate.reload"):
        assert mounted.check() == "reloaded"
    new = mounted.state.engine
    assert new is not None and new is not old and new.bundle_digest != old.bundle_digest
    assert mounted.state.refused is None
    assert mounted.counter("reloads_total", "policy") == 1
    assert mounted.counter("reloads_total", "trust") == 0  # same keys
    (rec,) = [r for r in caplog.records if getattr(r, "event", None) == "reloaded"]
    assert rec.__dict__["old_digest"] == old.bundle_digest
    assert rec.__dict__["new_digest"] == new.bundle_digest
    decision = new.validate_migration(inputs(), env="prod")
    assert decision.decision == "BLOCK" and "secrets-ref-required" in {
        r.policy for r in decision.reasons
    }


def test_a_reload_fixes_a_gate_that_started_unconfigured(mounted: Mounted) -> None:
    mounted.state.engine = None  # what load_state leaves after a failed start
    mounted.state.errors["policy"] = "broken at start"
    mounted.bundle(BROKEN_YAML)
    assert mounted.check() == "refused"
    assert mounted.state.engine is None and "invalid YAML" in mounted.state.errors["policy"]
    mounted.bundle(DEFAULT)
    assert mounted.check() == "reloaded"
    assert mounted.state.engine is not None and mounted.state.errors == {}


def test_a_reload_to_an_empty_trust_dir_is_applied_and_prod_blocks(
    mounted: Mounted, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Removing every key must take effect (a revoked key stops counting): fail closed."""
    assert mounted.state.engine is not None
    assert mounted.state.engine.validate_migration(inputs(), env="prod").decision == "ALLOW"
    mounted.keys({})
    with caplog.at_level(logging.ERROR, logger="migration_gate.reload"):
        assert mounted.check() == "reloaded"
    engine = mounted.state.engine
    assert engine is not None and len(engine.trust_store) == 0
    assert mounted.state.refused is None
    assert mounted.counter("reloads_total", "trust") == 1
    assert any(getattr(r, "event", None) == "trust-store-empty" for r in caplog.records)
    assert engine.validate_migration(inputs(), env="prod").decision == "BLOCK"
    resp = readyz(tmp_path, mounted.state)
    assert resp.status_code == 503 and resp.json()["trusted_keys"] == 0


def test_the_load_runs_off_the_event_loop(mounted: Mounted) -> None:
    """A slow load (a big bundle, a slow volume) never stalls the loop the doors answer on."""
    started, release = threading.Event(), threading.Event()
    threads: list[str] = []

    def slow_load(policy: Path | None, trust: Path | None) -> Engine:
        threads.append(threading.current_thread().name)
        started.set()
        if not release.wait(30):  # only the loop sets it: a load on the loop would time out
            raise AssertionError("the loop was blocked by the load")
        return Engine.load(policy, trust)

    mounted.reloader._load = slow_load
    mounted.bundle(STRICTER)

    async def main() -> str:
        task = asyncio.create_task(mounted.reloader.check(trigger="test"))
        while not started.is_set():
            await asyncio.sleep(0.005)
        ticks = 0
        for _ in range(3):  # the loop keeps running while the load is parked
            await asyncio.sleep(0)
            ticks += 1
        release.set()
        assert ticks == 3
        return await task

    assert asyncio.run(main()) == "reloaded"
    assert threads and threads[0] != threading.main_thread().name


def test_a_decision_in_flight_keeps_the_engine_it_started_with(
    mounted: Mounted, tmp_path: Path
) -> None:
    mounted.state.store = open_store(tmp_path / "audit.db")
    old = mounted.state.engine
    assert old is not None
    new = Engine.load(mounted.sources.policy, None)
    gate = Gate(mounted.state, mounted.metrics, threads=1, api_threads=1, cache_ttl=0)
    inside, swapped = threading.Event(), threading.Event()
    used: list[Engine] = []
    real = old.validate_migration

    def validate(inputs: MigrationInputs, **kw: Any) -> Decision:
        inside.set()
        assert swapped.wait(30)
        used.append(old)  # only the old engine's method is wrapped
        return real(inputs, **kw)

    old.validate_migration = validate  # type: ignore[method-assign]

    async def main() -> Decision:
        task = asyncio.create_task(gate.decide(gate.ask("admission", "r", "prod"), inputs()))
        for _ in range(6000):  # up to 30 s: the old engine must be the one that started
            if inside.is_set():
                break
            await asyncio.sleep(0.005)
        assert inside.is_set()
        mounted.state.engine = new  # what a reload does meanwhile
        swapped.set()
        return await task

    try:
        decision = asyncio.run(main())
    finally:
        gate.close()
        mounted.state.store.close()
    assert used == [old] and decision.policy_bundle == old.bundle_digest
    assert decision.decision == "ALLOW"  # the old engine's keys; the new one has none


# ---- SIGHUP and the polling loop ----


def test_sighup_reloads_and_interval_zero_never_polls(
    mounted: Mounted, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = Sources.identity

    def counted(self: Sources) -> tuple[object, ...]:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(Sources, "identity", counted)
    mounted.bundle(STRICTER)
    old = mounted.state.engine

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, mounted.reloader.request)  # as run.py wires it
        task = asyncio.create_task(mounted.reloader.run())
        try:
            for _ in range(20):
                await asyncio.sleep(0.01)
            assert calls == [], "interval 0 polled"
            os.kill(os.getpid(), signal.SIGHUP)
            while mounted.state.engine is old:
                await asyncio.sleep(0.01)
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(asyncio.wait_for(main(), 30))
    assert calls == [1]
    assert mounted.counter("reloads_total", "policy") == 1


def test_polling_picks_up_a_swap(mounted: Mounted) -> None:
    mounted.reloader.interval = 0.02
    old = mounted.state.engine

    async def main() -> None:
        task = asyncio.create_task(mounted.reloader.run())
        try:
            await asyncio.sleep(0.05)
            mounted.bundle(STRICTER)
            while mounted.state.engine is old:
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(asyncio.wait_for(main(), 30))
    assert mounted.counter("reloads_total", "policy") == 1


def test_reload_interval_setting() -> None:
    ns = argparse.Namespace(reload_interval=None)
    assert ServerSettings.from_args(ns, environ={}).reload_interval == 5.0
    env = {"MIGRATION_GATE_RELOAD_INTERVAL": "0"}
    assert ServerSettings.from_args(ns, environ=env).reload_interval == 0.0
    for bad in ("-1", "nan", "99999"):
        with pytest.raises(ConfigError, match="reload_interval"):
            ServerSettings.from_args(ns, environ={"MIGRATION_GATE_RELOAD_INTERVAL": bad})


def test_reload_series_exist_at_zero() -> None:
    text = GateMetrics().exposition()[0].decode()
    for what in ("policy", "trust"):
        assert f'migration_gate_reloads_total{{what="{what}"}} 0.0' in text
        assert f'migration_gate_reload_failures_total{{what="{what}"}} 0.0' in text


# ---- /readyz ----


def readyz(tmp_path: Path, state: GateState) -> httpx.Response:
    store = open_store(tmp_path / "audit.db")
    state.store = store
    apps = build_apps(ServerSettings(state_dir=tmp_path), state, None)

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=apps.ops)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            return await c.get("/readyz")

    try:
        return asyncio.run(main())
    finally:
        apps.gate.close()
        store.close()
        state.store = None


def test_readyz_stays_ready_names_the_refusal_and_the_digest(
    mounted: Mounted, tmp_path: Path
) -> None:
    good = mounted.state.engine
    assert good is not None
    first = readyz(tmp_path, mounted.state).json()
    assert first["bundle"] == good.bundle_digest and first["reload"] == {"status": "ok"}
    mounted.bundle(BROKEN_YAML)
    assert mounted.check() == "refused"
    resp = readyz(tmp_path, mounted.state)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ready" and body["bundle"] == good.bundle_digest
    assert body["reload"]["status"] == "refused" and body["reload"]["what"] == "policy"
    assert body["reload"]["file"].endswith("policy.yaml") and body["reload"]["error"]
    json.dumps(body)  # plain JSON


# ---- the decision cache never answers across a reload ----


def test_a_trust_change_with_the_same_bundle_is_a_cache_miss(tmp_path: Path) -> None:
    """Same bundle digest, other trust store: a cached prod ALLOW must not be served."""
    trusted = Engine.load(None, EXAMPLE / "trust")
    untrusted = Engine.load(None, None)
    assert trusted.bundle_digest == untrusted.bundle_digest
    assert engine_identity(trusted) != engine_identity(untrusted)
    gate = Gate(GateState(engine=trusted, store=open_store(tmp_path / "a.db")), GateMetrics())
    first = asyncio.run(decide_cached(gate, inputs(), "r1"))
    assert first.decision == "ALLOW"
    gate.state.engine = untrusted  # what a reload does
    after = asyncio.run(decide_cached(gate, inputs(), "r2"))
    assert after.decision == "BLOCK", "a decision cached under the old trust store was served"
    assert gate.cache.hits == 0
    gate.close()


def test_the_admission_door_never_serves_a_decision_cached_before_a_trust_reload(
    tmp_path: Path,
) -> None:
    """The object key (before conversion) must cover the trust store too."""
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {
                "group": "migrationgate.io",
                "version": "v1alpha1",
                "kind": "MigrationRequest",
            },
            "operation": "CREATE",
            "object": migration_request(EXAMPLE),
        },
    }
    store = open_store(tmp_path / "audit.db")
    state = GateState(engine=Engine.load(None, EXAMPLE / "trust"), store=store)
    apps = build_apps(ServerSettings(state_dir=tmp_path), state, None)

    async def main() -> list[bool]:
        transport = httpx.ASGITransport(app=apps.admission)
        out = []
        async with httpx.AsyncClient(transport=transport, base_url="https://gate") as c:
            for uid in ("u-1", "u-2"):
                review["request"]["uid"] = uid  # type: ignore[index]
                r = await c.post("/admission/v1/validate", json=review)
                assert r.status_code == 200, r.text
                out.append(r.json()["response"]["allowed"])
                state.engine = Engine.load(None, None)  # a reload: same bundle, no key
        return out

    try:
        allowed = asyncio.run(main())
    finally:
        apps.gate.close()
        store.close()
    assert allowed == [True, False]
