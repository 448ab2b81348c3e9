"""Helpers shared by the built-in checks: safe descriptions of found values and field paths.

Checks meet hostile, type-confused config (`tls: "yes"`, `ports: {}`); these helpers let them
say what they found without raising, and without echoing a value that might be a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from webhook.policies._describe import kind
from webhook.policies.context import PolicyContext


class _Missing:
    """Sentinel for an absent key, distinct from an explicit null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_SHOWN = 64


def config_of(ctx: PolicyContext) -> Mapping[str, Any]:
    """The parsed config; the engine never calls a config check without one."""
    if ctx.config is None:
        raise ValueError("no parsed config to check")
    return ctx.config


def lookup(mapping: Mapping[str, Any], key: str) -> Any:
    return mapping.get(key, MISSING)


def found(value: Any) -> str:
    """'found false', 'found "yes"', 'found number 1.2', 'found a mapping': for safe values."""
    if value is MISSING:
        return "not set"
    if value is None:
        return "found null"
    if isinstance(value, bool):
        return f"found {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"found integer {value}" if abs(value) < 10**18 else "found a very large integer"
    if isinstance(value, float):
        return f"found number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
        return f"found {json.dumps(shown)}"
    return f"found {kind(value)}"


def found_literal(value: str) -> str:
    """For values that may be secrets: only the length, never the text."""
    return f"found a literal value ({len(value)} chars)"


def child(path: str, key: Any) -> str:
    """`path.key`, or `path["odd key"]` when the key is not a plain word."""
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key < 10**18:
        return f"{path}[{key}]"
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    shown = key if isinstance(key, str) else f"<{kind(key)} key>"
    return f"{path}[{json.dumps(shown)}]"
