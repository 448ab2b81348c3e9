"""Short-lived cache of decisions, keyed by the SHA-256 of every input (DESIGN section 8).

The engine is pure, so identical inputs give an identical decision apart from request id and
time; the same object is often evaluated again and again (`kubectl apply --dry-run=server` then
`apply`, GitOps re-syncs, CI retries). The key covers every input byte, the identity of every
file read (path, size, mtime_ns, inode, device), the policy bundle digest and the dry-run flag,
so any change is a miss; the engine (bundle + trust store) is fixed for the life of a Gate.

What is cached: migrations (T1: time-independent), and replications that hashed a local
snapshot (the expensive admission step). Replications verified by attestation alone are not
cached: their verdict depends on the clock (statement expiry). Entries live `ttl` seconds, which
bounds how long a cached snapshot ALLOW can outlive its attestation's expiry.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from webhook.contracts.decision import Decision
from webhook.pipelines import Engine, MigrationInputs, ReplicationInputs
from webhook.pipelines.report import rfc3339

MAX_ENTRIES = 256


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _identity(path: Path) -> str:
    st = os.stat(path)
    return f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_dev}"


def cache_key(
    inputs: MigrationInputs | ReplicationInputs, *, bundle: str, dry_run: bool
) -> str | None:
    """None when the inputs must not be cached (or a file cannot be stat'ed)."""
    h = hashlib.sha256()
    parts: list[bytes] = [bundle.encode(), b"dry" if dry_run else b"wet"]
    if isinstance(inputs, MigrationInputs):
        fields = (inputs.manifest, inputs.config, inputs.signature)
        parts += [b"T1", *(b if b is not None else b"\x00none" for b in fields)]
    elif inputs.snapshot is None:
        return None  # attestation-only: the verdict depends on the clock
    else:
        try:
            parts += [
                b"T2",
                b"required" if inputs.snapshot_required else b"optional",
                inputs.manifest or b"\x00none",
                inputs.attestation or b"\x00none",
                _identity(inputs.snapshot).encode(),
            ]
            wal: Mapping[str, bytes | Path] = inputs.wal_files
            for name in sorted(wal):
                value = wal[name]
                ident = _identity(value) if isinstance(value, Path) else _digest(value)
                parts.append(f"{name}={ident}".encode())
        except OSError:
            return None
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def object_key(
    kind: str, obj: Mapping[str, Any], *, label: str | None, bundle: str, dry_run: bool
) -> str | None:
    """Key a received T1 object BEFORE it is converted, so a hit skips the conversion.

    Only migrations (time-independent) qualify: a MigrationRequest by its `spec`, a ConfigMap
    labelled `migration` by its `data` - exactly what `objects.convert` reads for them, so one
    key means one set of engine inputs and door reasons. The text hashed is `json.dumps` of the
    parsed JSON in received key order (ASCII escapes): injective over parsed documents, and
    order-sensitive on purpose (the signature bytes handed to the engine keep that order).
    Not the operation (CREATE and UPDATE decide alike), not the uid. None when not cacheable
    (replications are keyed after conversion by file identity, or never).
    """
    if kind == "MigrationRequest":
        material = obj.get("spec")
    elif kind == "ConfigMap" and label == "migration":
        material = obj.get("data", {})
        material = {} if material is None else material
    else:
        return None
    if not isinstance(material, dict):
        return None  # a shape error: convert reports it
    try:
        text = json.dumps(material, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        return None
    h = hashlib.sha256()
    for part in (b"object", bundle.encode(), b"dry" if dry_run else b"wet", kind.encode()):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    h.update(text.encode("ascii"))
    return h.hexdigest()


class DecisionCache:
    """Thread-safe LRU with TTL; returns a copy re-stamped with the new request id and time."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, Decision]] = OrderedDict()
        self.hits = 0

    def get(self, key: str, request_id: str) -> Decision | None:
        if self.ttl <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stored, decision = item
            if now - stored > self.ttl:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            self.hits += 1
        return decision.model_copy(
            update={"request_id": request_id, "timestamp": rfc3339(datetime.now(UTC))}
        )

    def put(self, key: str, decision: Decision) -> None:
        if self.ttl <= 0:
            return
        # a deadline or internal error says nothing about the inputs: never cache it
        if any(r.policy in ("deadline-exceeded", "internal-error") for r in decision.reasons):
            return
        with self._lock:
            self._items[key] = (time.monotonic(), decision)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)


def evaluate(
    engine: Engine,
    inputs: MigrationInputs | ReplicationInputs,
    *,
    request_id: str,
    dry_run: bool,
    deadline: float | None,
    cache: DecisionCache | None,
) -> Decision:
    """The engine's decision for `inputs`, from the cache when the very same inputs were seen."""
    key = None
    if cache is not None and cache.ttl > 0:
        key = cache_key(inputs, bundle=engine.bundle_digest, dry_run=dry_run)
        hit = cache.get(key, request_id) if key is not None else None
        if hit is not None:
            return hit
    if isinstance(inputs, MigrationInputs):
        decision = engine.validate_migration(
            inputs, request_id=request_id, dry_run=dry_run, deadline=deadline
        )
    else:
        decision = engine.validate_replication(
            inputs, request_id=request_id, dry_run=dry_run, deadline=deadline
        )
    if key is not None and cache is not None:
        cache.put(key, decision)
    return decision
