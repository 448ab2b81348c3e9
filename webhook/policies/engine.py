"""Evaluation: run a bundle's policies over one PolicyContext and return findings in order.

Fail closed: a check that raises, returns junk, or cannot run because its input is missing
still produces a finding under its policy id, so a broken check can never turn into an ALLOW.
A deadline, when given, is checked before every policy: a slow check cannot let the rest run
past it (the pipeline turns the DeadlineExceeded into a BLOCK).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice

from webhook.contracts.decision import Action, Severity
from webhook.errors import DeadlineExceeded
from webhook.policies.bundle import Policy, PolicyBundle
from webhook.policies.context import PolicyContext
from webhook.policies.registry import Violation

#: findings kept per policy; past it one finding says how many more there were
MAX_FINDINGS_PER_POLICY = 100
_MAX_DETAIL = 200


@dataclass(frozen=True)
class Finding:
    """A violation raised to a policy's severity and the action its env gives it."""

    policy: str
    check: str
    severity: Severity
    action: Action
    field: str
    message: str
    file: str | None


def _default_file(policy: Policy, ctx: PolicyContext) -> str | None:
    reads = policy.spec.reads
    if reads == "config":
        return ctx.config_file
    if reads == "hashes":
        return ctx.hash_file
    return None


def _run(policy: Policy, ctx: PolicyContext, action: Action) -> list[Finding]:
    file = _default_file(policy, ctx)

    def finding(fld: str, message: str, where: str | None = file, act: Action = action) -> Finding:
        return Finding(policy.id, policy.check, policy.severity, act, fld, message, where)

    if policy.spec.reads == "config" and ctx.config is None:
        return [
            finding(
                "",
                f"not evaluated: {ctx.config_file} was not parsed into a mapping; "
                "a policy that cannot run counts as violated",
            )
        ]
    try:
        produced = policy.spec.fn(ctx, policy.params_for(ctx.effective_env))
        violations = list(islice(produced, MAX_FINDINGS_PER_POLICY + 1))
        for v in violations:
            if (
                not isinstance(v, Violation)
                or not isinstance(v.field, str)
                or not isinstance(v.message, str)
            ):
                raise TypeError(f"check returned {type(v).__name__}, expected Violation")
    except Exception as exc:  # fail closed: a broken check blocks, whatever the env's action
        detail = " ".join(str(exc).split())[:_MAX_DETAIL]
        from webhook.policies.cel import CelEvalError  # noqa: PLC0415  (start-up time)

        if isinstance(exc, CelEvalError):
            message = f"policy {policy.id!r}: the CEL expression could not be evaluated: {detail}"
        else:
            message = f"check raised {type(exc).__name__}: {detail}"
        return [finding("", message, act="enforce")]
    out: list[Finding] = []
    seen: set[tuple[str, str, str | None]] = set()
    for v in violations[:MAX_FINDINGS_PER_POLICY]:
        key = (v.field, v.message, v.file)
        if key not in seen:
            seen.add(key)
            out.append(finding(v.field, v.message, v.file if v.file is not None else file))
    if len(violations) > MAX_FINDINGS_PER_POLICY:
        out.append(
            finding("", f"more than {MAX_FINDINGS_PER_POLICY} violations; the rest are not listed")
        )
    return out


def evaluate(
    bundle: PolicyBundle,
    ctx: PolicyContext,
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[Finding]:
    """Findings of every policy that applies to ctx.scenario and is not off in ctx's env.

    Bundle order, then each check's own (document) order: the same inputs give the same list.
    Raises DeadlineExceeded when `clock()` passes `deadline` before a policy or after the last.
    """
    env = ctx.effective_env
    findings: list[Finding] = []
    for policy in bundle.policies:
        action = policy.action_for(env)
        if action == "off" or not policy.spec.applies_to(ctx.scenario):
            continue
        _in_time(deadline, clock, f"before policy {policy.id!r}")
        findings.extend(_run(policy, ctx, action))
    _in_time(deadline, clock, "after the last policy")
    return findings


def _in_time(deadline: float | None, clock: Callable[[], float], where: str) -> None:
    if deadline is not None and clock() > deadline:
        raise DeadlineExceeded(
            f"the policy loop ran past its deadline ({where}); decision is BLOCK"
        )


def enforced(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that BLOCK."""
    return [f for f in findings if f.action == "enforce"]
