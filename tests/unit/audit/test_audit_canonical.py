"""The canonical encoding: one documented definition, and the columns it covers."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

from webhook.audit.canonical import (
    GENESIS_HASH,
    HASHED_FIELDS,
    RECORD_FIELDS,
    canonical_json,
    format_ts,
    record_hash,
)
from webhook.audit.schema import DDL


def _record(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "seq": 7,
        "ts": "2026-11-25T12:00:00.000001Z",
        "request_id": "req-1",
        "scenario": "T2",
        "source": "admission",
        "decision": "BLOCK",
        "env": "prod",
        "dry_run": True,
        "subject": {"source_db": "orders", "target_db": "orders-dr", "env": "prod"},
        "reasons": [
            {
                "policy": "snapshot-hash-mismatch",
                "severity": "critical",
                "field": "snapshot",
                "message": "expected sha256:aa, got sha256:bb",
                "file": None,
                "action": "enforce",
            }
        ],
        "warnings": [],
        "audited": [],
        "digests": {"snapshot.tar.gz": "sha256:" + "bb" * 32},
        "policy_bundle": "sha256:" + "cd" * 32,
        "prev_hash": "1f" * 32,
    }
    base.update(over)
    return base


def test_definition_is_plain_sorted_compact_ascii_json() -> None:
    record = _record(request_id="é")
    body = json.dumps(
        {k: record[k] for k in RECORD_FIELDS if k != "hash"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode("ascii")
    assert record_hash(record) == hashlib.sha256(body).hexdigest()
    assert "\\u00e9" in canonical_json(record)


def test_hash_covers_every_field_but_hash() -> None:
    assert RECORD_FIELDS[-1] == "hash" and set(HASHED_FIELDS) == set(RECORD_FIELDS) - {"hash"}
    original = record_hash(_record())
    for field in HASHED_FIELDS:
        changed = _record(**{field: "x" if field != "seq" else 8})
        assert record_hash(changed) != original, field


def test_timestamps_are_fixed_width_utc() -> None:
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
    plus2 = timezone(timedelta(hours=2))
    assert (
        format_ts(datetime(2026, 1, 2, 5, 4, 5, 7, tzinfo=plus2)) == "2026-01-02T03:04:05.000007Z"
    )
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000000Z"  # naive = UTC


def test_genesis_in_the_insert_trigger_is_the_genesis_hash() -> None:
    assert GENESIS_HASH == "0" * 64 and f"'{GENESIS_HASH}'" in DDL
