"""Privilege checks (T1): no privileged mode, no root, no capabilities beyond an explicit list."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from typing import Any

from webhook.policies.checks._util import MISSING, child, config_of, found, lookup
from webhook.policies.context import PolicyContext
from webhook.policies.registry import Param, Violation, register

_MAX_UID = 2**32 - 1


def _security(ctx: PolicyContext) -> tuple[Mapping[str, Any] | None, Violation | None]:
    """The security section (None when absent or null) or a violation when it is not a mapping."""
    section = lookup(config_of(ctx), "security")
    if section is MISSING or section is None:
        return None, None
    if not isinstance(section, Mapping):
        env = ctx.effective_env
        return None, Violation(
            "security", f"{env} requires security to be a mapping ({found(section)})"
        )
    return section, None


def _must_be_false(security: Mapping[str, Any] | None, key: str, env: str) -> Violation | None:
    """A switch that must be stated false: true is named as such; absent, null or a non-boolean
    (a string "false", a number) is not the safe assertion and is refused with what was found.

    One rule for every security assertion, as for tls.enabled: the default is never assumed safe.
    """
    field = f"security.{key}"
    if security is None:
        return Violation(field, f"{env} requires {field}: false (no security section)")
    value = lookup(security, key)
    if value is False:
        return None
    if value is True:
        return Violation(field, f"{env} forbids {field}: true (found true)")
    return Violation(field, f"{env} requires {field}: false ({found(value)})")


def _non_root_uid(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_UID


@register("no-privileged", scenarios=("T1",))
def no_privileged(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """security.privileged must be stated false (absent counts as privileged)."""
    env = ctx.effective_env
    security, bad = _security(ctx)
    if bad is not None:
        yield bad
        return
    violation = _must_be_false(security, "privileged", env)
    if violation is not None:
        yield violation


@register("no-root", scenarios=("T1",))
def no_root(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """security.run_as_root must be stated false, or run_as_user a non-zero uid; uid 0 never.

    Absent both, the image's user decides, which is root more often than not: a finding.
    """
    env = ctx.effective_env
    security, bad = _security(ctx)
    if bad is not None:
        yield bad
        return
    uid = MISSING if security is None else lookup(security, "run_as_user")
    root = MISSING if security is None else lookup(security, "run_as_root")
    if root is MISSING or root is None:
        if not _non_root_uid(uid):
            what = "no security section" if security is None else found(root)
            yield Violation(
                "security.run_as_root",
                f"{env} requires security.run_as_root: false or a non-zero "
                f"security.run_as_user ({what})",
            )
    else:
        violation = _must_be_false(security, "run_as_root", env)
        if violation is not None:
            yield violation
    if uid is MISSING:
        return
    if not isinstance(uid, int) or isinstance(uid, bool):
        yield Violation(
            "security.run_as_user",
            f"{env} requires security.run_as_user to be a numeric uid ({found(uid)})",
        )
    elif uid == 0:
        yield Violation(
            "security.run_as_user",
            f"{env} forbids running as root: expected a non-zero uid (found integer 0)",
        )
    elif not 0 < uid <= _MAX_UID:
        yield Violation(
            "security.run_as_user", f"{env} requires a uid between 1 and {_MAX_UID} ({found(uid)})"
        )


def _cap_name(text: str) -> str:
    return text.strip().upper().removeprefix("CAP_")


@register(
    "no-added-caps",
    scenarios=("T1",),
    params={
        "allow": Param(
            "str-list",
            (),
            doc="capabilities that may be added (e.g. NET_BIND_SERVICE); ALL is never allowed",
            pattern=r"(?:CAP_)?[A-Z][A-Z0-9_]*",
        )
    },
)
def no_added_caps(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """security.capabilities (a list, or {add: [...]}) may only name caps in params.allow."""
    env = ctx.effective_env
    security, bad = _security(ctx)
    if bad is not None:
        yield bad
        return
    if security is None:
        return  # no capabilities listed: none added
    allow = frozenset(_cap_name(c) for c in params.get("allow", ())) - {"ALL"}
    expected = f"expected none except {', '.join(sorted(allow))}" if allow else "expected none"
    caps, where = yield from _added(lookup(security, "capabilities"), env)
    if caps is MISSING or caps is None:
        return
    if not isinstance(caps, list):
        yield Violation(where, f"{env} requires {where} to be a list ({found(caps)})")
        return
    for i, cap in enumerate(caps):
        if (bad := _cap_violation(cap, f"{where}[{i}]", env, allow, expected)) is not None:
            yield bad


def _added(caps: Any, env: str) -> Generator[Violation, None, tuple[Any, str]]:
    """The list of added caps and its field: security.capabilities itself, or its `add` under
    the {add, drop} form (any other key there is a violation)."""
    where = "security.capabilities"
    if not isinstance(caps, Mapping):
        return caps, where
    for key in caps:
        if key not in ("add", "drop"):
            yield Violation(child(where, key), f"{env} accepts only add and drop under {where}")
    return lookup(caps, "add"), f"{where}.add"


def _cap_violation(
    cap: Any, item: str, env: str, allow: frozenset[str], expected: str
) -> Violation | None:
    """One added capability: a string naming a cap in `allow` (never ALL)."""
    if not isinstance(cap, str):
        return Violation(item, f"{env} requires capability names as strings ({found(cap)})")
    if _cap_name(cap) == "ALL":
        return Violation(item, f"{env} forbids adding ALL capabilities ({found(cap)}); {expected}")
    if _cap_name(cap) not in allow:
        return Violation(item, f"{env} forbids adding capabilities ({found(cap)}); {expected}")
    return None
