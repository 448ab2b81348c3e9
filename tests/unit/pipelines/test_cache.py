"""The engine's input cache: faster for repeated bytes, never a different answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webhook.artifacts import migration_inputs
from webhook.errors import InputError, SignatureError
from webhook.integrity import TrustStore, parse_envelope
from webhook.pipelines import Engine, MigrationInputs
from webhook.pipelines.cache import InputCache


def test_cached_documents_are_copies() -> None:
    cache = InputCache()
    calls = []

    def parse(data: bytes) -> dict[str, list[int]]:
        calls.append(data)
        return json.loads(data)

    first = cache.parsed("json", b'{"a": [1]}', parse)
    first["a"].append(2)  # a caller mutating its copy...
    second = cache.parsed("json", b'{"a": [1]}', parse)
    assert second == {"a": [1]}  # ...never reaches the next caller
    assert len(calls) == 1


def test_failures_are_not_cached() -> None:
    cache = InputCache()
    calls = []

    def parse(data: bytes) -> object:
        calls.append(data)
        raise InputError("bad", file="f")

    for _ in range(2):
        with pytest.raises(InputError):
            cache.parsed("yaml", b"x", parse)
    assert len(calls) == 2 and len(cache) == 0


def test_bounded_lru() -> None:
    cache = InputCache(max_entries=2)
    for i in range(5):
        cache.parsed("json", str(i).encode(), json.loads)
    assert len(cache) == 2


def test_distinct_bytes_never_share_an_entry() -> None:
    cache = InputCache()
    assert cache.parsed("json", b"[1]", json.loads) == [1]
    assert cache.parsed("json", b"[2]", json.loads) == [2]
    assert cache.parsed("yaml", b"[1]", lambda b: "other kind") == "other kind"


def test_signature_failure_is_recomputed_not_remembered(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[3] / "examples"
    raw = (examples / "t1_good" / "migration_manifest.dsse.json").read_bytes()
    envelope = parse_envelope(raw, file="m.dsse.json")
    cache = InputCache()
    for _ in range(2):
        with pytest.raises(SignatureError):
            cache.verified(
                raw,
                envelope,
                TrustStore.empty(),
                payload_type=envelope.payloadType,
                threshold=1,
                file="m.dsse.json",
            )
    assert len(cache) == 0
    trust = TrustStore.from_dir(examples / "t1_good" / "trust")
    ok = cache.verified(
        raw, envelope, trust, payload_type=envelope.payloadType, threshold=1, file="m.dsse.json"
    )
    assert (
        cache.verified(
            raw, envelope, trust, payload_type=envelope.payloadType, threshold=1, file="m.dsse.json"
        )
        is ok
    )


def test_engine_decisions_identical_with_and_without_cache() -> None:
    """Every example, twice through a caching engine, equals a non-caching engine's report."""
    examples = Path(__file__).resolve().parents[3] / "examples"
    trust = examples / "t1_good" / "trust"
    cached = Engine.load(trust_dir=trust)
    plain = Engine(cached.bundle, cached.trust_store, cache_entries=0)
    for folder in sorted(examples.glob("t1_*")):
        inputs = migration_inputs(folder)
        reports = [
            e.validate_migration(inputs, request_id="r", now=None).model_dump(exclude={"timestamp"})
            for e in (cached, cached, plain)
        ]
        assert reports[0] == reports[1] == reports[2], folder.name
    assert len(cached.cache) > 0 and len(plain.cache) == 0


def test_a_cached_config_is_still_checked_against_a_new_manifest() -> None:
    examples = Path(__file__).resolve().parents[3] / "examples"
    engine = Engine.load(trust_dir=examples / "t1_good" / "trust")
    good = migration_inputs(examples / "t1_good")
    assert engine.validate_migration(good).decision == "ALLOW"
    manifest = json.loads(good.manifest or b"")
    manifest["config_sha256"] = "0" * 64
    tampered = MigrationInputs(manifest=json.dumps(manifest).encode(), config=good.config)
    d = engine.validate_migration(tampered)
    assert "config-hash-mismatch" in d.policy_ids()
