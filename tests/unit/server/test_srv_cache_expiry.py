"""A cached replication ALLOW never outlives the attestation it was decided with.

The decision cache keys a T2 decision that hashed a local snapshot by the bytes and identity of
every input; only the clock can change its verdict (the statement's `expires`). Before, an entry
lived its TTL whatever the statement said, so an ALLOW was served after the attestation expired.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from webhook.pipelines import Engine, ReplicationInputs
from webhook.pipelines.statement import statement_expires
from webhook.server import cache as cache_mod
from webhook.server.cache import DecisionCache, inputs_material

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "t2_good"


def _inputs() -> ReplicationInputs:
    wal = EXAMPLE / "wal_files"
    return ReplicationInputs(
        manifest=(EXAMPLE / "replication_manifest.yaml").read_bytes(),
        snapshot=EXAMPLE / "snapshot.tar.gz",
        wal_files={p.name: p for p in sorted(wal.iterdir())},
        attestation=(EXAMPLE / "snapshot.dsse.json").read_bytes(),
    )


def test_an_allow_is_not_served_once_its_statement_expired(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = Engine.load(None, EXAMPLE / "trust")
    inputs = _inputs()
    expires = statement_expires(inputs.attestation or b"")
    assert expires is not None and expires > datetime.now(UTC)
    cache = DecisionCache(ttl=3600)
    assert inputs_material(inputs) is not None  # a local snapshot: cacheable
    first = engine.validate_replication(inputs, request_id="r1")
    assert first.decision == "ALLOW", first.reasons
    cache.remember("k", first, inputs)
    key = "k"
    assert cache.get(key, "r2") is not None  # within the statement's life: a hit

    real_time = cache_mod.time.time
    monkeypatch.setattr(cache_mod.time, "time", lambda: expires.timestamp() + 1)
    assert cache.get(key, "r3") is None, "a cached ALLOW outlived its attestation's expiry"
    monkeypatch.setattr(cache_mod.time, "time", real_time)


def test_an_entry_already_past_its_end_is_not_stored() -> None:
    engine = Engine.load(None, EXAMPLE / "trust")
    decision = engine.validate_replication(_inputs(), request_id="r")
    cache = DecisionCache(ttl=3600)
    cache.put("k", decision, not_after=datetime(2000, 1, 1, tzinfo=UTC))
    assert cache.get("k", "r2") is None


def test_an_allow_whose_statement_has_no_readable_expiry_is_never_stored() -> None:
    engine = Engine.load(None, EXAMPLE / "trust")
    inputs = _inputs()
    decision = engine.validate_replication(inputs, request_id="r")
    assert decision.decision == "ALLOW"
    cache = DecisionCache(ttl=3600)
    unreadable = ReplicationInputs(
        manifest=inputs.manifest, snapshot=inputs.snapshot, wal_files=inputs.wal_files,
        attestation=b"not a statement",
    )  # fmt: skip
    cache.remember("k", decision, unreadable)
    assert cache.get("k", "r2") is None
    blocked = decision.model_copy(update={"decision": "BLOCK"})
    cache.remember("k", blocked, unreadable)  # a BLOCK does not depend on the expiry
    assert cache.get("k", "r3") is not None
