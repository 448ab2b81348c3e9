"""The one canonical encoding the hash chain is computed over.

Kept tiny and stdlib-only on purpose: docs/audit.md reproduces it so an export can be verified
offline, without migration-gate installed. Change it and every existing chain stops verifying.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

#: prev_hash of the first record (seq 1)
GENESIS_HASH = "0" * 64

#: every field of a record; `hash` is computed over all the others
RECORD_FIELDS: tuple[str, ...] = (
    "seq",
    "ts",
    "request_id",
    "scenario",
    "source",
    "decision",
    "env",
    "dry_run",
    "subject",
    "reasons",
    "warnings",
    "audited",
    "digests",
    "policy_bundle",
    "prev_hash",
    "hash",
)
HASHED_FIELDS: tuple[str, ...] = RECORD_FIELDS[:-1]


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, ASCII only (`\\uXXXX` escapes), no NaN."""
    return _ENCODER.encode(value)


def record_hash(record: Mapping[str, Any]) -> str:
    """Lowercase hex SHA-256 of the canonical JSON of exactly the HASHED_FIELDS of `record`."""
    body = {name: record[name] for name in HASHED_FIELDS}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def format_ts(moment: datetime) -> str:
    """UTC RFC 3339 with microseconds and `Z`; fixed width, so strings sort like times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return text + "Z"


#: the last formatted second: [epoch second, "YYYY-MM-DDTHH:MM:SS"] (one list, swapped whole)
_SECOND: list[tuple[int, str]] = [(-1, "")]


def utc_now() -> str:
    """Current time in the record format (`format_ts` of now, microseconds truncated).

    The writer stamps every record with it: the "YYYY-MM-DDTHH:MM:SS" part is formatted once per
    second, the rest is integer arithmetic (5x cheaper than building a datetime).
    """
    micros = time.time_ns() // 1000
    second, fraction = divmod(micros, 1_000_000)
    cached, prefix = _SECOND[0]
    if cached != second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _SECOND[0] = (second, prefix)
    return f"{prefix}.{fraction:06d}Z"
