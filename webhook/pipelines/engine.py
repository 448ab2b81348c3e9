"""The Engine: a loaded policy bundle and trust store, and the two pipelines behind one facade.

Doors build one Engine at start-up and call it per request; it holds no per-request state, so
one instance serves every thread.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from webhook.contracts.decision import Decision, Scenario
from webhook.contracts.env import Env, door_env
from webhook.errors import ConfigError
from webhook.integrity import TrustStore
from webhook.pipelines.cache import InputCache
from webhook.pipelines.inputs import MigrationInputs, ReplicationInputs
from webhook.pipelines.migration import run_migration
from webhook.pipelines.report import Report
from webhook.pipelines.runtime import Runtime
from webhook.policies import MAX_BUNDLE_BYTES, PolicyBundle, default_bundle, load_bundle


class Engine:
    """Evaluates migration and replication inputs into Decisions; never raises per request."""

    def __init__(
        self,
        bundle: PolicyBundle,
        trust_store: TrustStore,
        *,
        cache_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bundle = bundle
        #: the monotonic clock deadlines are on (injectable so tests need no wall clock)
        self.clock = clock
        self.trust_store = trust_store
        self.threshold = self._threshold(bundle)
        #: parsed inputs and verified signatures by SHA-256 (docs/architecture.md); 0 disables it
        self.cache = InputCache(cache_entries)
        self._runtime = Runtime(bundle, trust_store, self.threshold, self.cache)

    @staticmethod
    def _threshold(bundle: PolicyBundle) -> int:
        """The signature-required policy's threshold; a bundle without one is refused.

        Prod always requires a valid signature by trusted keys, so a bundle that leaves the
        policy out would switch that off without saying so (the loader already refuses one
        that does not enforce it in prod).
        """
        for policy in bundle.policies:
            if policy.check == "signature-required":
                value = policy.params.get("threshold", 1)
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ConfigError(
                        f"threshold must be a whole number >= 1 (found {value!r})",
                        file=bundle.source,
                        field=f"{policy.id}.params.threshold",
                    )
                return value
        raise ConfigError(
            "the bundle has no signature-required policy; prod always requires a valid "
            "signature by trusted keys, so the bundle must list one (actions.prod: enforce)",
            file=bundle.source,
            field="policies",
        )

    @classmethod
    def load(cls, policy_path: Path | None = None, trust_dir: Path | None = None) -> Engine:
        """Build an Engine from files; raises ConfigError naming the file that is unusable."""
        if policy_path is None:
            bundle = default_bundle()
        else:
            try:
                with policy_path.open("rb") as fh:
                    data = fh.read(MAX_BUNDLE_BYTES + 1)
            except OSError as exc:
                raise ConfigError(
                    f"cannot read policy bundle: {exc.strerror}", file=str(policy_path)
                ) from None
            bundle = load_bundle(data, source=str(policy_path))
        trust = TrustStore.from_dir(trust_dir) if trust_dir is not None else TrustStore.empty()
        return cls(bundle, trust)

    @property
    def bundle_digest(self) -> str:
        return self.bundle.digest

    def _decide(
        self,
        scenario: Scenario,
        body: Callable[[Report], None],
        *,
        env: Env,
        request_id: str | None,
        dry_run: bool,
        deadline: float | None,
        now: datetime | None,
    ) -> Decision:
        report = Report(
            env=door_env(env),
            scenario=scenario,
            request_id=request_id or str(uuid.uuid4()),
            bundle_digest=self.bundle.digest,
            now=now or datetime.now(UTC),
            dry_run=dry_run,
            deadline=deadline,
            clock=self.clock,
        )
        try:
            body(report)
        except Exception as exc:  # the pipelines guard each step; this is the last line
            report.block("internal-error", f"{type(exc).__name__}: {exc}", field="pipeline")
        return report.finish()

    def validate_migration(
        self,
        inputs: MigrationInputs,
        *,
        env: Env = "prod",
        request_id: str | None = None,
        dry_run: bool = False,
        deadline: float | None = None,
        now: datetime | None = None,
    ) -> Decision:
        """Decide T1 for the door's `env` (anything but exactly "staging" is prod).

        The artifacts may repeat the env, never choose it: a differing claim is env-mismatch.
        `deadline` is on the Engine's monotonic clock and holds inside every step.
        """
        return self._decide(
            "T1",
            lambda r: run_migration(inputs, r, self._runtime),
            env=env,
            request_id=request_id,
            dry_run=dry_run,
            deadline=deadline,
            now=now,
        )

    def validate_replication(
        self,
        inputs: ReplicationInputs,
        *,
        env: Env = "prod",
        request_id: str | None = None,
        dry_run: bool = False,
        deadline: float | None = None,
        now: datetime | None = None,
    ) -> Decision:
        """Decide T2 for the door's `env`; the attestation must sign that env (predicate.env)."""
        # on first use: the T2 pipeline (and the archive inspector under it) is not loaded by
        # a process that only decides migrations, such as `migration-gate validate migration`
        from webhook.pipelines.replication import run_replication  # noqa: PLC0415

        return self._decide(
            "T2",
            lambda r: run_replication(inputs, r, self._runtime),
            env=env,
            request_id=request_id,
            dry_run=dry_run,
            deadline=deadline,
            now=now,
        )
