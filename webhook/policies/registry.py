"""The check registry: check name -> function, with the scenarios and params it accepts.

Adding a policy is one registered function plus one bundle entry. The bundle names checks by
string; `load_bundle` resolves each name here once and validates its params against the declared
`Param`s, so a typo in a bundle fails at start-up, not on the first request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

from webhook.contracts.decision import Scenario
from webhook.policies._describe import kind as _kind
from webhook.policies.context import PolicyContext

ParamKind = Literal["str", "bool", "int", "str-list"]
ParamValue = str | bool | int | tuple[str, ...]
#: what a check looks at; the engine uses it to name the file a finding points into
Reads = Literal["config", "signature", "hashes"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_MAX_LIST = 256
_MAX_STR = 1024


@dataclass(frozen=True)
class Violation:
    """One thing a check found wrong: the field (path into the file) and a deny message.

    `file` overrides the file the engine would name from the check's `reads`.
    """

    field: str
    message: str
    file: str | None = None


CheckFn = Callable[[PolicyContext, Mapping[str, Any]], Iterable[Violation]]


class ParamError(ValueError):
    """A bundle gave a check a param it does not accept; `field` is relative to the params map."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Param:
    """One parameter a check accepts, with its default (used when the bundle omits it)."""

    kind: ParamKind
    default: ParamValue
    doc: str = ""
    #: allowed values (for str, and for each item of str-list)
    choices: frozenset[str] | None = None
    #: regular expression every str / str-list item must match in full
    pattern: str | None = None
    minimum: int | None = None
    #: fewest items a str-list may have (e.g. an empty scheme list would accept nothing)
    min_items: int = 0
    #: False: may only be set in `params`, not per env (e.g. a value the pipeline reads once)
    per_env: bool = True

    def validate(self, name: str, value: Any) -> ParamValue:
        """Return the value in canonical form (lists become tuples) or raise ParamError."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ParamError(name, f"must be true or false (found {_kind(value)})")
            return value
        if self.kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise ParamError(name, f"must be a whole number (found {_kind(value)})")
            if self.minimum is not None and value < self.minimum:
                raise ParamError(name, f"must be >= {self.minimum} (found {value})")
            return value
        if self.kind == "str":
            return self._item(name, value)
        if not isinstance(value, list):
            raise ParamError(name, f"must be a list of strings (found {_kind(value)})")
        if len(value) > _MAX_LIST:
            raise ParamError(name, f"must have at most {_MAX_LIST} items (found {len(value)})")
        if len(value) < self.min_items:
            raise ParamError(
                name, f"must have at least {self.min_items} item(s) (found {len(value)})"
            )
        return tuple(self._item(f"{name}[{i}]", item) for i, item in enumerate(value))

    def _item(self, where: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ParamError(where, f"must be a string (found {_kind(value)})")
        if len(value) > _MAX_STR:
            raise ParamError(where, f"must be at most {_MAX_STR} characters")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(sorted(self.choices))
            raise ParamError(where, f"must be one of {allowed} (found {value!r})")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ParamError(where, f"must match {self.pattern} (found {value!r})")
        return value


@dataclass(frozen=True)
class CheckSpec:
    """A registered check: its function and what it declares about itself."""

    name: str
    fn: CheckFn
    scenarios: frozenset[Scenario]
    reads: Reads
    params: Mapping[str, Param]
    #: only integrity/signature checks may carry severity "critical" (alerts page on it)
    integrity: bool
    doc: str

    def applies_to(self, scenario: Scenario) -> bool:
        return scenario in self.scenarios

    def resolve_params(
        self, given: Mapping[str, Any], *, base: Mapping[str, Any] | None = None, env: bool = False
    ) -> Mapping[str, Any]:
        """Validate `given` over `base` (or the defaults); raises ParamError naming the key.

        `env=True` validates an env overlay, where params declared `per_env=False` are refused.
        """
        out: dict[str, Any] = (
            dict(base) if base is not None else {name: p.default for name, p in self.params.items()}
        )
        for name, value in given.items():
            param = self.params.get(name)
            if param is None:
                known = ", ".join(sorted(self.params)) or "none"
                raise ParamError(name, f"unknown param for check {self.name} (accepted: {known})")
            if env and not param.per_env:
                raise ParamError(name, "cannot differ per env; set it under params")
            out[name] = param.validate(name, value)
        return MappingProxyType(out)


class Registry:
    """A name -> CheckSpec table. The module-level `REGISTRY` holds the built-in checks."""

    def __init__(self) -> None:
        self._checks: dict[str, CheckSpec] = {}

    def register(
        self,
        name: str,
        *,
        scenarios: Collection[str],
        reads: Reads = "config",
        params: Mapping[str, Param] | None = None,
        integrity: bool = False,
    ) -> Callable[[CheckFn], CheckFn]:
        """Decorator: register `fn` as check `name`. A duplicate name is a programming error."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"check name {name!r} must be lowercase words joined by '-'")
        chosen: set[Scenario] = set()
        for scenario in scenarios:
            if scenario == "T1":
                chosen.add("T1")
            elif scenario == "T2":
                chosen.add("T2")
            else:
                raise ValueError(f"check {name}: unknown scenario {scenario!r} (T1, T2)")
        if not chosen:
            raise ValueError(f"check {name}: declare the scenarios it applies to (T1, T2)")
        if reads not in get_args(Reads):
            raise ValueError(f"check {name}: reads must be one of {get_args(Reads)}")
        declared = dict(params or {})
        for pname, param in declared.items():
            default = param.default
            param.validate(pname, list(default) if isinstance(default, tuple) else default)

        def decorator(fn: CheckFn) -> CheckFn:
            if name in self._checks:
                raise ValueError(f"check {name!r} is already registered")
            doc = (fn.__doc__ or "").strip().splitlines()
            self._checks[name] = CheckSpec(
                name=name,
                fn=fn,
                scenarios=frozenset(chosen),
                reads=reads,
                params=MappingProxyType(declared),
                integrity=integrity,
                doc=doc[0] if doc else "",
            )
            return fn

        return decorator

    def unregister(self, name: str) -> None:
        """Remove a check (for tests and plug-in reloads); unknown names raise KeyError."""
        del self._checks[name]

    def get(self, name: str) -> CheckSpec | None:
        return self._checks.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._checks))

    def __contains__(self, name: object) -> bool:
        return name in self._checks

    def __iter__(self) -> Iterator[CheckSpec]:
        return iter([self._checks[n] for n in self.names()])


REGISTRY = Registry()
#: `@register("name", scenarios=("T1",))` adds a built-in check to REGISTRY
register = REGISTRY.register

__all__ = [
    "REGISTRY",
    "CheckFn",
    "CheckSpec",
    "Param",
    "ParamError",
    "Reads",
    "Registry",
    "Violation",
    "register",
]
