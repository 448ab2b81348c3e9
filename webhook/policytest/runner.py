"""Running cases: each through `Engine.validate_*`, the call every door makes, then compared.

Engines are built once per (bundle, trust dir) before the first case runs, so an unusable
bundle or trust store is a malformed suite (exit 2), not a failed case.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from webhook.artifacts import migration_inputs, replication_inputs
from webhook.contracts.decision import Decision
from webhook.errors import GateError
from webhook.pipelines import Engine, MigrationInputs, ReplicationInputs
from webhook.pipelines.inputs import (
    ATTESTATION_FILE,
    CONFIG_FILE,
    MANIFEST_FILE,
    MANIFEST_SIGNATURE_FILE,
    REPLICATION_FILE,
    WAL_DIR,
)
from webhook.policytest.loader import LoadedSuite, Problem, ResolvedCase, SuiteError
from webhook.policytest.model import Expect

_Key = tuple[Path | None, Path | None]


@dataclass(frozen=True)
class CaseResult:
    case: ResolvedCase
    decision: Decision
    #: why the case failed, one line each; empty means it passed
    failures: tuple[str, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class SuiteResult:
    file: str
    name: str
    cases: tuple[CaseResult, ...]

    @property
    def failed(self) -> int:
        return sum(not c.passed for c in self.cases)

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.cases)


def build_engines(suites: Iterable[LoadedSuite]) -> dict[_Key, Engine]:
    """One Engine per distinct (bundle, trust dir); SuiteError names every unusable one."""
    engines: dict[_Key, Engine] = {}
    problems: list[Problem] = []
    broken: set[_Key] = set()
    for suite in suites:
        for case in suite.cases:
            key = _key(case)
            if key in engines or key in broken:
                continue
            try:
                engines[key] = Engine.load(policy_path=case.bundle, trust_dir=case.trust_dir)
            except GateError as exc:
                broken.add(key)
                problems.append(
                    Problem(case.suite_file, f"cases[{case.index}]", exc.diagnostics(), case.line)
                )
    if problems:
        raise SuiteError(problems)
    return engines


def _key(case: ResolvedCase) -> _Key:
    return (
        case.bundle.resolve() if case.bundle else None,
        case.trust_dir.resolve() if case.trust_dir else None,
    )


def run_suites(suites: list[LoadedSuite]) -> list[SuiteResult]:
    engines = build_engines(suites)
    return [
        SuiteResult(
            file=s.file, name=s.name, cases=tuple(run_case(engines[_key(c)], c) for c in s.cases)
        )
        for s in suites
    ]


def run_case(engine: Engine, case: ResolvedCase) -> CaseResult:
    start = time.perf_counter()
    if case.scenario == "migration":
        decision = engine.validate_migration(_migration(case), env=case.env)
    else:
        decision = engine.validate_replication(_replication(case), env=case.env)
    return CaseResult(
        case=case,
        decision=decision,
        failures=tuple(compare(case.expect, decision)),
        seconds=time.perf_counter() - start,
    )


def _pick(inline: Mapping[str, bytes | None], name: str, base: bytes | None) -> bytes | None:
    return inline.get(name, base)


def _migration(case: ResolvedCase) -> MigrationInputs:
    base = migration_inputs(case.folder) if case.folder else MigrationInputs(None, None)
    return MigrationInputs(
        manifest=_pick(case.inline, MANIFEST_FILE, base.manifest),
        config=_pick(case.inline, CONFIG_FILE, base.config),
        signature=_pick(case.inline, MANIFEST_SIGNATURE_FILE, base.signature),
    )


def _replication(case: ResolvedCase) -> ReplicationInputs:
    base = (
        replication_inputs(case.folder)
        if case.folder
        else ReplicationInputs(manifest=None, snapshot=None)
    )
    wal: dict[str, bytes | Path] = {}
    for name, source in base.wal_files.items():
        if isinstance(source, bytes | Path):
            wal[name] = source
    for name, text in case.inline.items():
        if name.startswith(f"{WAL_DIR}/"):
            segment = name.split("/", 1)[1]
            if text is None:
                wal.pop(segment, None)
            else:
                wal[segment] = text
    return ReplicationInputs(
        manifest=_pick(case.inline, REPLICATION_FILE, base.manifest),
        snapshot=base.snapshot,
        wal_files=dict(sorted(wal.items())),
        attestation=_pick(case.inline, ATTESTATION_FILE, base.attestation),
    )


def compare(expect: Expect, decision: Decision) -> list[str]:
    """Every way the decision differs from the expectation, one readable line each."""
    out: list[str] = []
    if decision.decision != expect.decision:
        out.append(f"decision: expected {expect.decision}, got {decision.decision}")
    findings = {r.policy: r for r in (*decision.reasons, *decision.warnings, *decision.audited)}
    shown = ", ".join(sorted(findings)) or "none"
    for pid in expect.present:
        if pid not in findings:
            out.append(f"present: {pid} is not among the findings (found: {shown})")
    for pid in expect.absent:
        if pid in findings:
            out.append(f"absent: {pid} was found ({findings[pid].action}): {findings[pid].line()}")
    _exact(out, "reasons", expect.reasons, decision.policy_ids())
    _exact(out, "warnings", expect.warnings, [r.policy for r in decision.warnings])
    return out


def _exact(out: list[str], what: str, want: list[str] | None, got: list[str]) -> None:
    if want is None:
        return
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing:
        out.append(f"{what}: missing {', '.join(missing)}")
    if extra:
        out.append(f"{what}: unexpected {', '.join(extra)}")
