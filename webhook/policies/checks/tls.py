"""TLS checks (T1): transport encryption must be on, at a version that is still considered safe."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from webhook.policies.checks._util import MISSING, config_of, found, lookup
from webhook.policies.context import PolicyContext
from webhook.policies.registry import Param, Violation, register

TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
# "1.2", also the spellings servers use: "TLSv1.2", "TLS1.2" (case-insensitive); nothing else
_VERSION = re.compile(r"^(?:tls\s?v?)?1\.([0-3])$", re.IGNORECASE)


def parse_tls_version(text: str) -> tuple[int, int] | None:
    """(1, minor) for a TLS version string, None for anything else ("1.10", "2", "high")."""
    match = _VERSION.fullmatch(text.strip())
    return (1, int(match.group(1))) if match else None


@register("tls-required", scenarios=("T1",))
def tls_required(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """tls.enabled must be the boolean true."""
    env = ctx.effective_env
    tls = lookup(config_of(ctx), "tls")
    if tls is MISSING or tls is None:
        yield Violation("tls", f"{env} requires tls.enabled: true (no tls section)")
    elif not isinstance(tls, Mapping):
        yield Violation(
            "tls", f"{env} requires tls to be a mapping with enabled: true ({found(tls)})"
        )
    else:
        enabled = lookup(tls, "enabled")
        if enabled is not True:
            yield Violation("tls.enabled", f"{env} requires tls.enabled: true ({found(enabled)})")


@register(
    "tls-min-version",
    scenarios=("T1",),
    params={
        "min": Param(
            "str", "1.2", doc="lowest acceptable tls.min_version", choices=frozenset(TLS_VERSIONS)
        )
    },
)
def tls_min_version(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """When TLS is on, tls.min_version must be a quoted version string >= params.min."""
    env = ctx.effective_env
    minimum = str(params.get("min", "1.2"))
    wanted = parse_tls_version(minimum) or (1, 2)
    tls = lookup(config_of(ctx), "tls")
    if not isinstance(tls, Mapping) or lookup(tls, "enabled") is not True:
        return  # TLS absent, off or malformed: that is tls-required's finding, not a version's
    version = lookup(tls, "min_version")
    where = "tls.min_version"
    if version is MISSING or version is None:
        yield Violation(where, f'{env} requires {where}: "{minimum}" or higher ({found(version)})')
    elif not isinstance(version, str):
        yield Violation(
            where,
            f'{env} requires {where} as a quoted string, "{minimum}" or higher ({found(version)})',
        )
    else:
        parsed = parse_tls_version(version)
        if parsed is None:
            yield Violation(
                where,
                f"{env} requires {where} to be one of {', '.join(TLS_VERSIONS)} and at least "
                f"{minimum} ({found(version)})",
            )
        elif parsed < wanted:
            yield Violation(
                where, f'{env} requires {where}: "{minimum}" or higher ({found(version)})'
            )
