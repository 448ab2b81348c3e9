"""Live reload of the policy bundle and trust store: on SIGHUP, or when the mounted files change.

Kubernetes updates a ConfigMap/Secret volume with an atomic symlink swap: the files are written
to a new `..<timestamp>` directory, `..data_tmp` is pointed at it and renamed over `..data`, and
each visible file is a symlink through `..data`. inotify on the visible path sees nothing, so the
watcher polls the *resolved* target's identity (realpath, device, inode, mtime_ns, size) every
`interval` seconds; any difference is a change, including an in-place edit of a plain file.

A change is loaded completely off the event loop (`Engine.load`: bundle AND trust store, in one
call) and only a valid Engine is swapped in, with one reference assignment (`GateState.engine`).
A decision reads that reference once when it starts, so it finishes with the Engine it began
with, and no decision ever sees a half-loaded bundle or trust from one load with a bundle from
another. An invalid one is refused: the last good Engine keeps deciding, the refusal is logged
(`reload-failed`, naming the file), counted and shown on /readyz until a later reload succeeds.

A reload to an EMPTY trust store (no key file) is applied, not refused: removing every key must
take effect (a revoked key must never keep signing for prod because the new store is empty), and
an empty store is fail-closed (every prod decision BLOCKs, /readyz not ready unless
--allow-empty-trust), exactly the rule at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from webhook.errors import ConfigError
from webhook.integrity.trust import MAX_KEYS
from webhook.pipelines import Engine
from webhook.pipelines.report import rfc3339
from webhook.server.app import trust_status
from webhook.server.cache import DecisionCache, engine_identity
from webhook.server.gate import GateState, ReloadRefusal, WorkerPool
from webhook.server.metrics import GateMetrics

log = logging.getLogger("migration_gate.reload")

#: one path's identity: (realpath, dev, ino, mtime_ns, size), or (path, "error", errno)
FileId = tuple[str, ...]
Outcome = Literal["unchanged", "reloaded", "refused"]
#: the most trust-dir entries looked at (the trust store refuses more than MAX_KEYS anyway)
MAX_DIR_ENTRIES = 4 * MAX_KEYS
#: a refusal's message on /readyz is cut to this many characters
MAX_ERROR_CHARS = 2000


def file_identity(path: Path) -> FileId:
    """The identity of what `path` resolves to now; an unreadable path has one too (a change)."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError as exc:
        return (str(path), "error", str(exc.errno))
    return (real, str(st.st_dev), str(st.st_ino), str(st.st_mtime_ns), str(st.st_size))


def dir_identity(path: Path) -> tuple[FileId, ...]:
    """The trust dir's own identity and each visible entry's resolved identity, by name.

    Hidden entries (`..data`, `..2024_...`) are skipped: the visible symlinks resolve through
    them, so a swap changes every visible entry's realpath."""
    own = file_identity(path)
    try:
        with os.scandir(path) as it:
            names: list[str] = []
            for entry in it:
                if not entry.name.startswith("."):
                    names.append(entry.name)
                if len(names) > MAX_DIR_ENTRIES:
                    break
    except OSError as exc:
        return (own, ("listing", "error", str(exc.errno)))
    return (own, *(file_identity(path / name) for name in sorted(names)))


@dataclass(frozen=True, slots=True)
class Sources:
    """What the engine was loaded from: the bundle file and the trust dir (None: not given)."""

    policy: Path | None
    trust_dir: Path | None

    def identity(self) -> tuple[object, ...]:
        """Blocking (stat calls): run it off the loop."""
        return (
            file_identity(self.policy) if self.policy is not None else None,
            dir_identity(self.trust_dir) if self.trust_dir is not None else None,
        )

    def component(self, exc: ConfigError) -> str:
        """Which component a load error is about: the trust dir's files are "trust"."""
        trust = self.trust_dir is not None and (exc.file or "").startswith(str(self.trust_dir))
        return "trust" if trust else "policy"


def trust_fingerprint(engine: Engine) -> str:
    """The trust part of the engine's cache identity (hash of the sorted key ids)."""
    return engine_identity(engine).rsplit("+trust:", 1)[-1]


class Reloader:
    """Watches `sources`, reloads on change or `request()` (SIGHUP), swaps only a valid Engine.

    One task (`run`) does every check, so reloads never overlap; the stat calls and the load
    run on the reloader's own thread, never on the event loop nor on a door's pool.
    """

    def __init__(
        self,
        state: GateState,
        metrics: GateMetrics,
        sources: Sources,
        *,
        interval: float,
        cache: DecisionCache | None = None,
        seen: tuple[object, ...] | None = None,
        load: Callable[[Path | None, Path | None], Engine] = Engine.load,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.sources = sources
        self.interval = interval
        self.cache = cache
        self._load = load
        #: the identity of the files the current engine was loaded from (taken BEFORE the load,
        #: so a change during a load is seen by the next check)
        self.seen = seen
        self._kick = asyncio.Event()
        self._pool = WorkerPool(1, name="reload")

    def request(self) -> None:
        """Ask for a reload now (the SIGHUP handler; runs on the loop)."""
        self._kick.set()

    def close(self) -> None:
        self._pool.shutdown()

    async def run(self) -> None:
        """Check every `interval` s (0: only when asked); until cancelled."""
        while True:
            timeout = self.interval if self.interval > 0 else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)
            forced = self._kick.is_set()
            self._kick.clear()
            try:
                await self.check(trigger="sighup" if forced else "poll", force=forced)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the watcher die: the next tick tries again
                log.exception("reload check failed", extra={"event": "reload-failed"})

    async def check(self, *, trigger: str, force: bool = False) -> Outcome:
        """Reload when the files changed since the last check (or always when `force`)."""
        identity = await self._pool.submit(self.sources.identity)
        if not force and identity == self.seen:
            return "unchanged"
        self.seen = identity  # a refused version is not retried until it changes again
        src = self.sources
        try:
            engine = await self._pool.submit(lambda: self._load(src.policy, src.trust_dir))
        except ConfigError as exc:
            return self._refuse(src.component(exc), exc.file, exc.diagnostics(), trigger)
        except Exception as exc:  # any failure keeps the last good engine: never half a load
            return self._refuse("policy", str(src.policy), f"{type(exc).__name__}: {exc}", trigger)
        return self._apply(engine, trigger)

    def _refuse(self, what: str, file: str | None, error: str, trigger: str) -> Outcome:
        error = error[:MAX_ERROR_CHARS]
        self.metrics.reload_failures.labels(what=what).inc()
        self.state.refused = ReloadRefusal(what, file, error, rfc3339(datetime.now(UTC)))
        kept = self.state.engine
        if kept is None:  # nothing good to keep: the gate stays unready, with the newest error
            self.state.errors[what] = error
        log.error(
            "reload refused, %s: %s",
            f"kept bundle {kept.bundle_digest}" if kept is not None else "gate not ready",
            error,
            extra={"event": "reload-failed", "what": what, "file": file, "trigger": trigger},
        )
        return "refused"

    def _apply(self, engine: Engine, trigger: str) -> Outcome:
        old = self.state.engine
        changed = [
            what
            for what, differs in (
                ("policy", old is None or old.bundle_digest != engine.bundle_digest),
                ("trust", old is None or trust_fingerprint(old) != trust_fingerprint(engine)),
            )
            if differs
        ]
        self.state.refused = None
        if not changed:  # same content (a touch, or a SIGHUP): keep the warm engine
            log.info(
                "reload: bundle %s and trust store unchanged",
                engine.bundle_digest,
                extra={"event": "reload-unchanged", "trigger": trigger},
            )
            return "unchanged"
        self.metrics.prime((p.id, p.severity) for p in engine.bundle.policies)
        self.state.engine = engine  # THE swap: one reference assignment
        for what in ("policy", "trust"):
            self.state.errors.pop(what, None)
        if self.cache is not None:
            self.cache.clear()  # unreachable now (the key covers the identity): free them
        for what in changed:
            self.metrics.reloads.labels(what=what).inc()
        old_digest = old.bundle_digest if old is not None else "none"
        log.info(
            "reloaded %s: bundle %s -> %s, %d trusted key(s)",
            " and ".join(changed),
            old_digest,
            engine.bundle_digest,
            len(engine.trust_store),
            extra={
                "event": "reloaded", "what": ",".join(changed), "trigger": trigger,
                "old_digest": old_digest, "new_digest": engine.bundle_digest,
            },
        )  # fmt: skip
        status = trust_status(engine)
        if status != "ok":  # applied (fail closed: prod BLOCKs), and said loudly
            log.error(
                "gate not ready: %s",
                status,
                extra={"event": "trust-store-empty", "component": "trust"},
            )
        return "reloaded"
