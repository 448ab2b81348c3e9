"""Short-lived cache of decisions under one key function (`decision_key`, docs/architecture.md).

The engine is pure, so identical inputs give an identical decision apart from request id and
time; the same object is often evaluated again and again (`kubectl apply --dry-run=server` then
`apply`, GitOps re-syncs, CI retries). A key is the SHA-256 of the door's material (every byte
the decision is a function of, as the door received it: `object_material` for a Kubernetes
object before conversion, `inputs_material` for engine inputs, with the identity of every file
read: path, size, mtime_ns, inode, device), the engine's identity (`engine_identity`: the policy
bundle digest AND the trust store's key ids), the dry-run flag and the target env the door
established (the same bytes decide differently for prod and staging, so a staging ALLOW must
never answer a prod request), so any change is a miss. A live reload swaps the engine
(`webhook.server.reload`): a changed bundle or trust store is a new identity, so no decision
cached under the old one is ever served again, even when only the keys changed.

What is cached is the door's whole decision (engine reasons and door reasons merged): migrations
(T1: time-independent), and replications that hashed a local snapshot (the expensive admission
step). Replications verified by attestation alone are not cached: their verdict depends on the
clock (statement expiry). Entries live `ttl` seconds, and never past the expiry of the
attestation they were decided with (`DecisionCache.remember`): a cached ALLOW cannot outlive
the signed statement that allowed it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from webhook.contracts.decision import Decision
from webhook.contracts.env import ENVS, Env
from webhook.integrity.pinned import PinnedSource
from webhook.pipelines import Engine, MigrationInputs, ReplicationInputs
from webhook.pipelines.statement import statement_expires
from webhook.server.logs import utc_timestamp

MAX_ENTRIES = 256
#: what a decision is a function of, as a door received it: a tag naming the form, then bytes
Material = tuple[bytes, ...]
#: decisions that say nothing about their inputs: never cached
UNCACHEABLE = frozenset({"deadline-exceeded", "internal-error"})


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# memo: one slot (the current engine); measured 0.67 -> 0.06 us a request
class _Memo:
    """The last (engine, identity) computed: a gate has one current engine, so one slot suffices;
    the tuple is replaced in one assignment, so no thread sees an engine with another's id."""

    last: tuple[Engine, str] | None = None


def engine_identity(engine: Engine) -> str:
    """What a decision depends on besides its inputs: bundle digest + trusted key ids.

    The bundle digest alone is not enough: a reloaded trust store (a key revoked) with the same
    bundle must never be answered from a decision made with the old keys."""
    memo = _Memo.last
    if memo is not None and memo[0] is engine:
        return memo[1]
    trust = hashlib.sha256("\n".join(engine.trust_store.keyids).encode()).hexdigest()
    identity = f"{engine.bundle_digest}+trust:{trust}"
    _Memo.last = (engine, identity)
    return identity


def _env_part(env: Env) -> bytes:
    """The env as a key part; anything but a known env is refused (a key must never be shared)."""
    if env not in ENVS:
        raise ValueError(f"env must be one of {', '.join(ENVS)} (found {env!r})")
    return b"env=" + env.encode()


def decision_key(material: Material, *, identity: str, dry_run: bool, env: Env) -> str:
    """THE key of a cached decision: every door's lookups and stores go through here.

    `identity` is the deciding engine's `engine_identity`; `env` is required, never defaulted
    (the door's target env is part of what is decided). Every part is length-prefixed, so no
    two materials share a key; the tag (`material[0]`) keeps the doors' forms apart."""
    h = _prefix(material[0], identity, dry_run, _env_part(env)).copy()
    for part in material[1:]:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


# memo: pure, bounded (32); measured 1.5 -> 0.05 us an admission request
@functools.lru_cache(maxsize=32)
def _prefix(tag: bytes, identity: str, dry_run: bool, env: bytes) -> hashlib._Hash:
    """The hash state after a key's fixed parts (a gate has one engine, so a few entries):
    copied per request instead of re-hashing them. Never updated in place."""
    h = hashlib.sha256()
    for part in (tag, identity.encode(), b"dry" if dry_run else b"wet", env):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h


def _identity(path: Path | PinnedSource) -> str:
    if not isinstance(path, Path):
        return path.identity()  # from the descriptor the engine reads, not the path again
    st = os.stat(path)
    return f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_dev}"


def inputs_material(inputs: MigrationInputs | ReplicationInputs) -> Material | None:
    """Engine inputs as key material; None when they must not be cached (an attestation-only
    replication: the verdict depends on the clock) or a file cannot be stat'ed."""
    if isinstance(inputs, MigrationInputs):
        fields = (inputs.manifest, inputs.config, inputs.signature)
        return (b"inputs:T1", *(b if b is not None else b"\x00none" for b in fields))
    if inputs.snapshot is None:
        return None
    try:
        parts = [
            b"inputs:T2",
            b"required" if inputs.snapshot_required else b"optional",
            inputs.manifest or b"\x00none",
            inputs.attestation or b"\x00none",
            _identity(inputs.snapshot).encode(),
        ]
        wal: Mapping[str, bytes | Path | PinnedSource] = inputs.wal_files
        for name in sorted(wal):
            value = wal[name]
            ident = _digest(value) if isinstance(value, bytes) else _identity(value)
            parts.append(f"{name}={ident}".encode())
    except OSError:
        return None
    return tuple(parts)


def object_material(
    kind: str, obj: Mapping[str, Any], *, label: str | None, plain: bool = False
) -> Material | None:
    """A received T1 object as key material BEFORE it is converted, so a hit skips conversion.

    Only migrations (time-independent) qualify: a MigrationRequest by its `spec`, a ConfigMap
    labelled `migration` by its `data` - exactly what `objects.convert` reads for them, so one
    key means one set of engine inputs and door reasons. The text hashed is the parsed JSON
    written back in received key order: injective over parsed documents, and order-sensitive on
    purpose (the signature bytes handed to the engine keep that order). `plain` (the document
    came from orjson, see `http.parse_json`): written by orjson, which is faithful for exactly
    those values and 15x faster; else by `json.dumps` (ASCII escapes), which also writes NaN
    and big integers faithfully. The two writers are kept apart by the tag.
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
        if plain:
            text = orjson.dumps(material)
        else:
            text = json.dumps(material, separators=(",", ":")).encode("ascii")
    except (ValueError, TypeError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        return None
    return (b"object:" + (b"orjson:" if plain else b"json:") + kind.encode(), text)


def cacheable(decision: Decision) -> bool:
    """Whether a decision says something about its inputs (a deadline or an internal error
    says only that the gate failed): only those are cached, or shared with a concurrent twin."""
    return not any(r.policy in UNCACHEABLE for r in decision.reasons)


def restamped(decision: Decision, request_id: str) -> Decision:
    """`decision` as the answer to another request: its id and the time now, nothing else.

    pydantic's own copy (1.5 us; a hand-made one saved 0.7 us a hit, under 1% of one)."""
    return decision.model_copy(update={"request_id": request_id, "timestamp": utc_timestamp()})


class DecisionCache:
    """Thread-safe LRU with TTL; returns a copy re-stamped with the new request id and time."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        #: key -> (monotonic time stored, wall-clock end of validity or None, decision)
        self._items: OrderedDict[str, tuple[float, float | None, Decision]] = OrderedDict()
        self.hits = 0

    def get(self, key: str, request_id: str) -> Decision | None:
        if self.ttl <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stored, not_after, decision = item
            if now - stored > self.ttl or (not_after is not None and time.time() >= not_after):
                del self._items[key]
                return None
            self._items.move_to_end(key)
            self.hits += 1
        return restamped(decision, request_id)

    def clear(self) -> None:
        """Drop every entry (after a reload: entries under the old identity are dead weight)."""
        with self._lock:
            self._items.clear()

    def remember(
        self, key: str, decision: Decision, inputs: MigrationInputs | ReplicationInputs
    ) -> None:
        """Store the decision made from `inputs`, for no longer than their attestation lives;
        an ALLOW whose statement has no readable expiry is not stored at all."""
        expires = None
        if isinstance(inputs, ReplicationInputs) and inputs.attestation is not None:
            expires = statement_expires(inputs.attestation)
            if expires is None and decision.decision == "ALLOW":
                return
        self.put(key, decision, not_after=expires)

    def put(self, key: str, decision: Decision, *, not_after: datetime | None = None) -> None:
        """Store `decision`; `not_after` ends its life early (an attestation's expiry)."""
        if self.ttl <= 0 or not cacheable(decision):
            return
        end = not_after.timestamp() if not_after is not None else None
        if end is not None and time.time() >= end:
            return
        with self._lock:
            self._items[key] = (time.monotonic(), end, decision)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
