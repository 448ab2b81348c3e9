"""Secret-handling checks (T1): secrets come from a secret store by reference, never inline.

What looks like a secret (key names, value shapes) is `webhook.contracts.secret_shapes`, shared
with redaction. A reference is an allowed scheme and a path; `${VAR}` placeholders are not
references (they say nothing about where the value comes from, and wrapping a literal in `${}`
would be a way around the check). Messages never contain a suspected secret: only its length,
or the scheme of a wrong reference.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from webhook.contracts.secret_shapes import Hit, first_secret, is_secret_key, is_secret_ref_key
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

_MAX_DEPTH = 64
_MAX_NODES = 200_000
#: strings at least this long are scanned once per object, however often YAML aliases repeat them
_MEMO_AT = 256
#: mapping keys that name an environment entry (`{name: DB_PASSWORD, value: ...}`) ...
_ENTRY_NAMES = frozenset({"name", "key", "env", "variable", "var", "parameterkey"})
#: ... and the key that then holds its value
_ENTRY_VALUES = frozenset({"value", "parametervalue"})
#: the fields of a structured secret reference (Kubernetes' secretKeyRef, CSI and operator refs)
_REF_FIELDS = frozenset({"name", "key", "namespace", "optional", "path", "version", "field"})
#: the spec's own reference field, judged by secrets-ref-required (not twice)
_REF = "secrets_ref"


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
    """Depth- and size-bounded walk of the config; on overflow it reports, it does not give up.

    Under a secret-named key (or the `value` of a secret-named environment entry) every leaf
    must be a reference, null or empty, whatever its type: a list, a mapping, a number or a
    boolean is a literal all the same. Everywhere else strings, and mapping keys, are scanned
    for secret shapes (`secret_shapes.find_secrets`).
    """

    def __init__(self, env: str, schemes: tuple[str, ...]) -> None:
        self.env = env
        self.schemes = schemes
        self.nodes = 0
        first = schemes[0] if schemes else "vault://"
        self.expected = f"expected a secret-store reference such as {first}..."
        self.memo: dict[int, Hit | None] = {}

    def _count(self, path: str, depth: int) -> Iterator[Violation]:
        """One more value seen; past the bounds, the finding that says so, then stop."""
        self.nodes += 1
        if depth > _MAX_DEPTH or self.nodes > _MAX_NODES:
            yield Violation(
                path or "(root)",
                f"{self.env} forbids inline secrets; the config is too deep or too large to "
                f"inspect (limit: depth {_MAX_DEPTH}, {_MAX_NODES} values)",
            )
            raise _Stop

    def value(self, path: str, value: Any, depth: int, secret: bool = False) -> Iterator[Violation]:
        yield from self._count(path, depth)
        if isinstance(value, Mapping):
            yield from self.mapping(path, value, depth, secret)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                yield from self.value(child(path, i), item, depth + 1, secret)
        elif secret:
            if not self._absent_or_reference(value):
                yield self._inline(path or "(root)", value)
        elif isinstance(value, str):
            hit = self._scan(value)
            if hit is not None:
                yield Violation(
                    path or "(root)",
                    f"{self.env} forbids inline secrets: the value looks like {hit.what} "
                    f"({found_literal(value)}); {self.expected}",
                )

    def mapping(
        self, path: str, value: Mapping[Any, Any], depth: int, secret: bool
    ) -> Iterator[Violation]:
        entry = not secret and _secret_entry(value)
        for key, item in value.items():
            where = child(path, key)
            if isinstance(key, str) and (hit := self._scan(key)) is not None:
                yield Violation(
                    where,
                    f"{self.env} forbids inline secrets: the key itself looks like {hit.what} "
                    f"({found_literal(key)}); {self.expected}",
                )
            if not secret and isinstance(key, str) and is_secret_ref_key(key) and where != _REF:
                yield from self.reference(where, item, depth + 1)
                continue
            inner = secret or (
                isinstance(key, str)
                and (is_secret_key(key) or (entry and key.casefold() in _ENTRY_VALUES))
            )
            yield from self.value(where, item, depth + 1, inner)

    def reference(self, path: str, value: Any, depth: int) -> Iterator[Violation]:
        """Under `password_ref` and its kin: a reference string (or a list of them), a
        structured reference (a mapping such as Kubernetes' `secretKeyRef: {name, key}`, scanned
        like any config), or nothing (null, empty: no secret there); a literal of any other kind
        is a finding. A mapping is a structured reference only when every key is a reference
        field (`_REF_FIELDS`). The top-level `secrets_ref` is left to its own policy,
        secrets-ref-required."""
        yield from self._count(path, depth)
        if isinstance(value, Mapping) and all(
            isinstance(k, str) and k.casefold() in _REF_FIELDS for k in value
        ):
            yield from self.mapping(path, value, depth, False)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                yield from self.reference(child(path, i), item, depth + 1)
        elif not self._absent_or_reference(value):
            yield self._inline(path, value)

    def _scan(self, text: str) -> Hit | None:
        """The first secret shape in text; long strings once per object (aliases repeat them),
        short ones through a bounded memo shared by every request (`_short_scan`)."""
        if len(text) < _MEMO_AT:
            return _short_scan(text, self.schemes)
        key = id(text)
        if key not in self.memo:
            self.memo[key] = first_secret(text, is_reference=self._is_reference)
        return self.memo[key]

    def _is_reference(self, value: str) -> bool:
        return is_reference(value, self.schemes)

    def _absent_or_reference(self, value: Any) -> bool:
        if value is None or value == "":
            return True
        return isinstance(value, str) and is_reference(value, self.schemes)

    def _inline(self, where: str, value: Any) -> Violation:
        what = (
            found_literal(value) if isinstance(value, str) else f"found a literal ({kind(value)})"
        )
        return Violation(
            where, f"{self.env} forbids inline secrets in {where} ({what}); {self.expected}"
        )


# memo: pure, bounded (8192); measured 7.7 -> 0.05 us a short text
@functools.lru_cache(maxsize=8192)
def _short_scan(text: str, schemes: tuple[str, ...]) -> Hit | None:
    """`first_secret` of a short text under `schemes`: a pure function of both (Hit is frozen),
    remembered because keys and most values of configs repeat from one request to the next."""
    return first_secret(text, is_reference=lambda value: is_reference(value, schemes))


def _secret_entry(value: Mapping[Any, Any]) -> bool:
    """`{name: DB_PASSWORD, value: ...}`: an environment entry whose name says secret."""
    for key, item in value.items():
        if (
            isinstance(key, str)
            and key.casefold() in _ENTRY_NAMES
            and isinstance(item, str)
            and is_secret_key(item)
        ):
            return True
    return False


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
