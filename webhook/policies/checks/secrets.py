"""Secret-handling checks (T1): secrets come from a secret store by reference, never inline.

Messages never contain a suspected secret: only its length, or the scheme of a wrong reference.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from webhook.policies._describe import kind
from webhook.policies.checks._util import MISSING, child, config_of, found_literal, lookup
from webhook.policies.context import PolicyContext
from webhook.policies.registry import Param, Violation, register

DEFAULT_SCHEMES = ("vault://", "k8s-secret://", "aws-sm://", "gcp-sm://", "azure-kv://", "sops://")
_SCHEME_PARAM = Param(
    "str-list",
    DEFAULT_SCHEMES,
    doc="reference schemes accepted as secret references",
    pattern=r"[a-z][a-z0-9+.-]*://",
    min_items=1,
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*://)", re.IGNORECASE)

# key names that hold a secret: by their last word ("db_password", "apiToken") or last two words
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "credential",
        "credentials",
    }
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("client", "secret"),
    }
)
# values that are secrets wherever they appear
_SECRET_VALUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    (
        "an AWS access key id",
        re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
    ),
    (
        "a GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    (
        "a URL with an embedded password",
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I),
    ),
)
_MAX_DEPTH = 64
_MAX_NODES = 200_000


def is_reference(value: str, schemes: tuple[str, ...]) -> bool:
    """True for "<allowed scheme><non-empty path without whitespace>"."""
    for scheme in schemes:
        if value.startswith(scheme):
            rest = value[len(scheme) :]
            return bool(rest) and not any(c.isspace() for c in rest)
    return False


def _not_a_reference(value: str, schemes: tuple[str, ...]) -> str:
    """What was found instead of a reference, without echoing anything secret."""
    match = _SCHEME.match(value)
    if match is None:
        return found_literal(value)
    scheme = match.group(1)
    if scheme in schemes:
        return f"found an empty or malformed {scheme} reference"
    return f"found scheme {scheme} ({len(value)} chars)"


_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _key_words(key: str) -> list[str]:
    spaced = _CAMEL.sub(r"\1_\2", key)
    return [w for w in _NON_WORD.split(spaced.lower()) if w]


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Does this key name say it holds a secret? 'db_password' yes, 'password_file' no.

    Cached: configs reuse the same few hundred key names, and this runs for every key of every
    config (it was the costliest line of the engine's profile).
    """
    words = _key_words(key)
    if not words:
        return False
    return words[-1] in _SECRET_WORDS or tuple(words[-2:]) in _SECRET_PAIRS


@register("secrets-ref-required", scenarios=("T1",), params={"schemes": _SCHEME_PARAM})
def secrets_ref_required(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """secrets_ref must be present and be a reference with an allowed scheme."""
    env = ctx.effective_env
    schemes = tuple(params.get("schemes", DEFAULT_SCHEMES))
    expected = f"a reference with scheme {', '.join(schemes)}"
    ref = lookup(config_of(ctx), "secrets_ref")
    if ref is MISSING or ref is None:
        yield Violation("secrets_ref", f"{env} requires secrets_ref: {expected} (not set)")
    elif not isinstance(ref, str):
        yield Violation(
            "secrets_ref", f"{env} requires secrets_ref: {expected} (found {kind(ref)})"
        )
    elif not ref:
        yield Violation(
            "secrets_ref", f"{env} requires secrets_ref: {expected} (found an empty string)"
        )
    elif not is_reference(ref, schemes):
        yield Violation(
            "secrets_ref",
            f"{env} requires secrets_ref: {expected} ({_not_a_reference(ref, schemes)})",
        )


class _Walk:
    """Depth- and size-bounded walk of the config; on overflow it reports, it does not give up."""

    def __init__(self, env: str, schemes: tuple[str, ...]) -> None:
        self.env = env
        self.schemes = schemes
        self.nodes = 0
        first = schemes[0] if schemes else "vault://"
        self.expected = f"expected a secret-store reference such as {first}..."

    def value(self, path: str, value: Any, depth: int) -> Iterator[Violation]:
        self.nodes += 1
        if depth > _MAX_DEPTH or self.nodes > _MAX_NODES:
            yield Violation(
                path or "(root)",
                f"{self.env} forbids inline secrets; the config is too deep or too large to "
                f"inspect (limit: depth {_MAX_DEPTH}, {_MAX_NODES} values)",
            )
            raise _Stop
        if isinstance(value, Mapping):
            for key, item in value.items():
                where = child(path, key)
                if isinstance(key, str) and is_secret_key(key) and self._literal(item):
                    yield self._inline(where, item)
                else:
                    yield from self.value(where, item, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from self.value(child(path, i), item, depth + 1)
        elif isinstance(value, str):
            for what, pattern in _SECRET_VALUES:
                if pattern.search(value):
                    yield Violation(
                        path or "(root)",
                        f"{self.env} forbids inline secrets: the value looks like {what} "
                        f"({found_literal(value)}); {self.expected}",
                    )
                    break

    def _literal(self, value: Any) -> bool:
        if isinstance(value, str):
            return bool(value) and not is_reference(value, self.schemes)
        return isinstance(value, int | float) and not isinstance(value, bool)

    def _inline(self, where: str, value: Any) -> Violation:
        what = found_literal(value) if isinstance(value, str) else "found a literal number"
        return Violation(
            where, f"{self.env} forbids inline secrets in {where} ({what}); {self.expected}"
        )


class _Stop(Exception):
    """The walk hit its bound; the violation saying so has been yielded."""


@register("no-inline-secrets", scenarios=("T1",), params={"schemes": _SCHEME_PARAM})
def no_inline_secrets(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """No secret-named key may hold a literal; no value anywhere may look like a key or token."""
    walk = _Walk(ctx.effective_env, tuple(params.get("schemes", DEFAULT_SCHEMES)))
    try:
        yield from walk.value("", config_of(ctx), 0)
    except _Stop:
        return
