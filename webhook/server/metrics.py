"""Prometheus metrics (README "Metrics and health"), one fresh registry per `GateMetrics`.

Dry runs: the label set of `decisions_total` is fixed, so a dry-run decision is counted there
like any other (source="admission") and *also* in `migration_gate_dry_run_decisions_total`.
`integrity_failures_total` counts only blocking, non-dry-run integrity failures: it pages (P1),
and a `kubectl apply --dry-run=server` must not page anyone.
Label values are bounded: env is prod|staging|unknown, policy ids come from the engine's fixed set.
Series are created at 0 up front (`prime`), because `increase()` misses the first event of a
counter whose series first appears already at 1.
No `_created` series unless asked for (`created_series=True`): prometheus_client adds one per
counter and histogram child, which doubles what is scraped and stored for a timestamp no alert
or dashboard here reads. Filtered per exposition, not with the library's process-global
`disable_created_metrics()`, so one process can hold both kinds of registry.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric

from webhook import __version__
from webhook.contracts.decision import Decision, Reason
from webhook.contracts.env import ENVS
from webhook.integrity.archive import ArchiveCheck

PREFIX = "migration_gate_"
DOORS = ("admission", "api", "ui", "metrics")
SOURCES = ("admission", "api", "ui")
#: what a live reload re-reads (`webhook.server.reload`)
RELOADED = ("policy", "trust")
SCENARIOS = ("T1", "T2")
VERDICTS = ("ALLOW", "BLOCK")
#: reason ids that are integrity or signature failures (severity critical when they block)
INTEGRITY_CHECKS = (
    "config-hash-mismatch",
    "snapshot-hash-mismatch",
    "snapshot-hash-unverifiable",
    *get_args(ArchiveCheck),  # the archive inspector's own ids: a new guard gets its series
    "wal-integrity",
    "signature-invalid",
    "attestation-mismatch",
)
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 10.0)


def env_label(decision: Decision) -> str:
    env = decision.subject.get("env", "")
    return env if env in ENVS else "unknown"


class _WithoutCreated:
    """A collector showing another registry's metrics minus their `_created` samples."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():
            kept = [s for s in metric.samples if not s.name.endswith("_created")]
            if len(kept) == len(metric.samples):
                yield metric
                continue
            view = copy.copy(metric)
            view.samples = kept
            yield view


class GateMetrics:
    """Every metric the gate exports, registered in its own registry."""

    def __init__(self, *, created_series: bool = False) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        #: what /metrics exposes: the registry itself, or a view without `_created` series
        self.exposed = self.registry
        if not created_series:
            self.exposed = CollectorRegistry(auto_describe=False)
            self.exposed.register(_WithoutCreated(self.registry))
        self._children: dict[tuple[int, tuple[str, ...]], Counter] = {}
        r = self.registry
        self.decisions = Counter(
            PREFIX + "decisions_total",
            "Decisions by scenario, verdict, door and env (dry runs included).",
            ["scenario", "decision", "source", "env"],
            registry=r,
        )
        self.dry_run_decisions = Counter(
            PREFIX + "dry_run_decisions_total",
            "Admission dryRun decisions (also counted in decisions_total).",
            ["scenario", "decision", "env"],
            registry=r,
        )
        self.policy_violations = Counter(
            PREFIX + "policy_violations_total",
            "Findings by policy id, env and action (enforce, warn, audit).",
            ["policy", "env", "action"],
            registry=r,
        )
        self.integrity_failures = Counter(
            PREFIX + "integrity_failures_total",
            "Critical integrity/signature findings by check (reason id).",
            ["check"],
            registry=r,
        )
        self.request_duration = Histogram(
            PREFIX + "request_duration_seconds",
            "HTTP request duration by door.",
            ["door"],
            buckets=BUCKETS,
            registry=r,
        )
        self.audit_write_failures = Counter(
            PREFIX + "audit_write_failures_total",
            "Audit appends that failed (each turned its decision into a BLOCK).",
            registry=r,
        )
        self.tls_not_after = Gauge(
            PREFIX + "tls_cert_not_after_timestamp_seconds",
            "Expiry (unix time) of the certificate currently served, by listener.",
            ["listener"],
            registry=r,
        )
        self.tls_reload_failures = Counter(
            PREFIX + "tls_reload_failures_total",
            "Rotated certificate/key pairs that could not be loaded (old pair kept).",
            ["listener"],
            registry=r,
        )
        self.reloads = Counter(
            PREFIX + "reloads_total",
            "Live reloads applied, by what changed (policy bundle, trust store).",
            ["what"],
            registry=r,
        )
        self.reload_failures = Counter(
            PREFIX + "reload_failures_total",
            "Reloads refused (the last good bundle and trust store kept), by what failed to load.",
            ["what"],
            registry=r,
        )
        for what in RELOADED:
            self.reloads.labels(what=what)
            self.reload_failures.labels(what=what)
        self.connections_refused = Counter(
            PREFIX + "connections_refused_total",
            "Connections closed by a guard: per-client limit, head/body timeout, head too large.",
            ["listener", "reason"],
            registry=r,
        )
        self.admission_skipped = Counter(
            PREFIX + "admission_skipped_total",
            "Admission requests allowed untouched (not a gated kind, or DELETE/CONNECT).",
            ["kind", "operation"],
            registry=r,
        )
        self.build_info = Gauge(
            PREFIX + "build_info", "Build information.", ["version"], registry=r
        )
        self.build_info.labels(version=__version__).set(1)
        for door in DOORS:
            self.request_duration.labels(door=door)
        self.prime(())

    def prime(self, policies: Iterable[tuple[str, str]]) -> None:
        """Create the alerting series at 0: every verdict, every integrity check, every policy.

        `policies` are the bundle's (id, severity) pairs; critical ones are integrity checks too.
        """
        for scenario in SCENARIOS:
            for verdict in VERDICTS:
                for env in (*ENVS, "unknown"):
                    for source in SOURCES:
                        self._child(self.decisions, scenario, verdict, source, env)
                    self._child(self.dry_run_decisions, scenario, verdict, env)
        for check in INTEGRITY_CHECKS:
            self._child(self.integrity_failures, check)
        for policy, severity in policies:
            for env in ENVS:
                self._child(self.policy_violations, policy, env, "enforce")
            if severity == "critical":
                self._child(self.integrity_failures, policy)

    def _child(self, metric: Counter, *labels: str) -> Counter:
        """labels() with a cache: label values are bounded, lookups happen per decision."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children.setdefault(key, metric.labels(*labels))
        return child

    def observe_decision(self, decision: Decision, *, source: str, dry_run: bool) -> None:
        env = env_label(decision)
        self._child(self.decisions, decision.scenario, decision.decision, source, env).inc()
        if dry_run:
            self._child(self.dry_run_decisions, decision.scenario, decision.decision, env).inc()
        groups: tuple[tuple[tuple[Reason, ...], str | None], ...] = (
            (decision.reasons, None),
            (decision.warnings, "warn"),
            (decision.audited, "audit"),
        )
        for reasons, action in groups:
            for reason in reasons:
                act = action or reason.action
                self._child(self.policy_violations, reason.policy, env, act).inc()
                if action is None and not dry_run and reason.severity == "critical":
                    self._child(self.integrity_failures, reason.policy).inc()

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.exposed), CONTENT_TYPE_LATEST
