"""Issue 11 item 9c: the engine's caches cannot let an ALLOW outlive its attestation.

The InputCache keeps parsed documents and verified envelopes (verification does not depend on
the clock); the statement's validity window is checked on every decision against that
decision's `now`, cache or not. These tests hold that with the cache warm.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from webhook.artifacts import replication_inputs
from webhook.pipelines import Engine, ReplicationInputs
from webhook.pipelines.statement import statement_expires

EXPIRES = datetime(2036, 11, 1, tzinfo=UTC)  # examples/generate.py


def test_warm_cache_still_checks_expiry(engine: Engine, t2: Path) -> None:
    inputs = replication_inputs(t2)
    before = EXPIRES - timedelta(seconds=1)
    assert engine.validate_replication(inputs, now=before).decision == "ALLOW"
    assert len(engine.cache) > 0
    d = engine.validate_replication(inputs, now=EXPIRES)
    assert [(r.policy, r.field) for r in d.reasons] == [("signature-invalid", "predicate.expires")]
    # and back: nothing about the expired decision was remembered
    assert engine.validate_replication(inputs, now=before).decision == "ALLOW"


def test_warm_cache_attestation_only(engine: Engine, t2: Path) -> None:
    base = replication_inputs(t2)
    inputs = ReplicationInputs(
        manifest=base.manifest, snapshot=None, attestation=base.attestation, snapshot_required=False
    )
    assert engine.validate_replication(inputs, now=EXPIRES - timedelta(days=1)).allowed
    assert not engine.validate_replication(inputs, now=EXPIRES + timedelta(days=1)).allowed


def test_statement_expires_for_caches(t2: Path) -> None:
    assert statement_expires((t2 / "snapshot.dsse.json").read_bytes()) == EXPIRES
    assert statement_expires(b"not json") is None
    assert statement_expires(b'{"payloadType": "x", "payload": "e30=", "signatures": []}') is None
