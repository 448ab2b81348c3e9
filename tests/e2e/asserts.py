"""What "admitted" and "denied by the gate" mean, checked on kubectl's output and the stored state.

A denial must come from the gate's webhook (never from an unreachable one: that would pass for
the wrong reason), name every expected policy id, and leave nothing stored. For a CRD, the
OpenAPI schema may reject malformed input before any webhook runs; that counts only for
input-level reasons (the schema is the CRD's form of `input-invalid`).
"""

from __future__ import annotations

from collections.abc import Iterable

from .kubectl import Kubectl, Result
from .objects import SCHEMA_POLICIES

WEBHOOK_DENIED = "denied the request"
WEBHOOK_UNREACHABLE = "failed calling webhook"
SCHEMA_INVALID = "is invalid"


def assert_admitted(
    result: Result,
    kubectl: Kubectl,
    kind: str,
    name: str,
    namespace: str,
    warnings: Iterable[str] = (),
    *,
    stored: bool = True,
) -> None:
    assert result.ok, f"expected {kind}/{name} to be admitted:\n{result}"
    for policy in warnings:
        assert any(policy in line for line in result.warnings), (
            f"expected a `Warning:` line naming {policy}:\n{result}"
        )
    assert kubectl.exists(kind, name, namespace) is stored, (
        f"{kind}/{name} stored should be {stored} after:\n{result}"
    )


def denied_by_gate(result: Result) -> bool:
    return not result.ok and WEBHOOK_DENIED in result.stderr


def assert_denied(
    result: Result,
    kubectl: Kubectl,
    kind: str,
    name: str,
    namespace: str,
    policies: Iterable[str],
    *,
    schema_may_deny: bool = False,
    existed: bool = False,
) -> None:
    policies = list(policies)
    assert not result.ok, f"expected {kind}/{name} to be denied ({policies}):\n{result}"
    assert WEBHOOK_UNREACHABLE not in result.stderr, f"the gate was not reachable:\n{result}"
    if WEBHOOK_DENIED in result.stderr:
        missing = [p for p in policies if p not in result.stderr]
        assert not missing, f"denial does not name {missing}:\n{result}"
    else:
        schema_ok = (
            schema_may_deny and SCHEMA_INVALID in result.stderr and set(policies) <= SCHEMA_POLICIES
        )
        assert schema_ok, f"denied, but not by the gate's webhook:\n{result}"
    if not existed:
        assert not kubectl.exists(kind, name, namespace), f"{kind}/{name} was stored:\n{result}"
