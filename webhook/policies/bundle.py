"""The policy bundle: which checks run, how severe they are, and what each env does about them.

A bundle is YAML (shipped default: `default.yaml`; an operator may supply their own file or
ConfigMap). It is parsed with the strict safe loader, then validated completely: every error is a
`ConfigError` naming the source and the exact field (`policies[3].actions.staging`), because a gate
that starts with a half-understood policy would enforce something nobody wrote.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, get_args

import webhook.policies.checks  # noqa: F401  (registers the built-in checks)
from webhook.contracts.decision import Action, Scenario, Severity
from webhook.contracts.env import ENVS, Env, door_env
from webhook.contracts.limits import ParseLimits
from webhook.contracts.reasons import BUILTIN_REASONS
from webhook.contracts.strict import load_yaml
from webhook.errors import ConfigError, InputError
from webhook.policies._describe import kind as _kind
from webhook.policies.context import PolicyContext
from webhook.policies.registry import REGISTRY, CheckSpec, ParamError, Registry, Violation

if TYPE_CHECKING:  # compiled on first use: only a bundle with a CEL policy loads it
    from webhook.policies import cel

API_VERSION = "migrationgate.io/policy/v1"
KIND = "PolicyBundle"
MAX_BUNDLE_BYTES = 1024 * 1024
MAX_POLICIES = 256
_BUNDLE_LIMITS = ParseLimits(max_bytes=MAX_BUNDLE_BYTES, max_aliases=0, max_depth=32)
DEFAULT_SOURCE = "webhook/policies/default.yaml"

SEVERITIES: tuple[Severity, ...] = get_args(Severity)
ACTIONS: tuple[Action, ...] = get_args(Action)
#: reason ids the pipelines emit on their own; a policy may not reuse one (reports stay unambiguous)
RESERVED_IDS = frozenset(BUILTIN_REASONS)

#: checks a bundle may not loosen in prod: prod always requires a valid signature (issue 11)
PROD_ENFORCED_CHECKS = frozenset({"signature-required"})

_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TOP_KEYS = ("apiVersion", "kind", "policies")
_POLICY_REQUIRED = ("id", "check", "severity", "description", "actions")
_POLICY_OPTIONAL = ("params", "env_params")
_CEL_REQUIRED = ("id", "expression", "severity", "scenarios", "actions")
_CEL_OPTIONAL = ("description", "message", "messageExpression", "field")
#: the check name every CEL policy's findings carry
CEL_CHECK = "cel"
_MAX_FIELD = 256
_MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class Policy:
    """One bundle entry, validated: a check, a severity and an explicit action per env."""

    id: str
    check: str
    severity: Severity
    description: str
    actions: Mapping[Env, Action]
    #: params shared by every env, defaults filled in
    params: Mapping[str, Any]
    #: the params each env actually runs with (`params` overlaid with `env_params.<env>`)
    resolved: Mapping[Env, Mapping[str, Any]] = field(repr=False)
    spec: CheckSpec = field(repr=False, compare=False)
    #: a CEL policy's compiled expression (check == "cel"); None for a built-in check
    expression: cel.CelProgram | None = field(default=None, repr=False, compare=False)

    def action_for(self, env: str) -> Action:
        """The action in `env`; anything but "staging" is prod (strictest)."""
        return self.actions[door_env(env)]

    def params_for(self, env: str) -> Mapping[str, Any]:
        return self.resolved[door_env(env)]

    def summary(self) -> dict[str, Any]:
        """Plain JSON-ready data (for `policy show --output json` and the API)."""
        return {
            "id": self.id,
            "check": self.check,
            "severity": self.severity,
            "description": self.description,
            "actions": {env: self.actions[env] for env in ENVS},
            "params": {env: _plain(self.resolved[env]) for env in ENVS},
            "scenarios": sorted(self.spec.scenarios),
            **({"expression": self.expression.source} if self.expression else {}),
        }


@dataclass(frozen=True)
class PolicyBundle:
    """A validated bundle. `digest` is "sha256:" + hex SHA-256 of the exact bytes loaded."""

    policies: tuple[Policy, ...]
    digest: str
    source: str
    data: bytes = field(repr=False)
    api_version: str = API_VERSION

    def get(self, policy_id: str) -> Policy | None:
        return next((p for p in self.policies if p.id == policy_id), None)


class _Loader:
    """Validates one parsed bundle document, failing with the exact field path."""

    def __init__(self, source: str, registry: Registry) -> None:
        self.source = source
        self.registry = registry

    def fail(self, message: str, where: str | None) -> ConfigError:
        return ConfigError(message, file=self.source, field=where)

    def mapping(self, value: Any, where: str, what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{what} must be a mapping (found {_kind(value)})", where)
        return value

    def keys(
        self,
        value: Mapping[str, Any],
        where: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> None:
        for key in value:
            if key not in required and key not in optional:
                allowed = ", ".join(required + optional)
                raise self.fail(f"unknown field (allowed: {allowed})", _join(where, key))
        for key in required:
            if key not in value:
                raise self.fail("missing required field", _join(where, key))

    def string(self, value: Any, where: str, *, limit: int = 256) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"must be a non-empty string (found {_kind(value)})", where)
        if len(value) > limit:
            raise self.fail(f"must be at most {limit} characters (found {len(value)})", where)
        return value

    def bundle(self, doc: Any) -> tuple[Policy, ...]:
        top = self.mapping(doc, "", "a policy bundle")
        self.keys(top, "", _TOP_KEYS)
        if top["apiVersion"] != API_VERSION:
            raise self.fail(f"must be {API_VERSION} (found {top['apiVersion']!r})", "apiVersion")
        if top["kind"] != KIND:
            raise self.fail(f"must be {KIND} (found {top['kind']!r})", "kind")
        entries = top["policies"]
        if not isinstance(entries, list):
            raise self.fail(f"must be a list of policies (found {_kind(entries)})", "policies")
        if not entries:
            raise self.fail(
                "must list at least one policy: an empty bundle checks nothing", "policies"
            )
        if len(entries) > MAX_POLICIES:
            raise self.fail(f"at most {MAX_POLICIES} policies (found {len(entries)})", "policies")
        seen: dict[str, int] = {}
        out: list[Policy] = []
        for i, entry in enumerate(entries):
            policy = self.policy(entry, f"policies[{i}]")
            if policy.id in seen:
                raise self.fail(
                    f"duplicate policy id {policy.id!r} (first at policies[{seen[policy.id]}])",
                    f"policies[{i}].id",
                )
            seen[policy.id] = i
            out.append(policy)
        return tuple(out)

    def policy_id(self, raw: Mapping[str, Any], where: str) -> str:
        pid = self.string(raw["id"], f"{where}.id", limit=63)
        if not _ID.fullmatch(pid):
            raise self.fail(
                f"must be lowercase letters, digits and '-' (found {pid!r})", f"{where}.id"
            )
        if pid in RESERVED_IDS:
            raise self.fail(f"{pid!r} is a reason id the pipelines emit themselves", f"{where}.id")
        return pid

    def severity(self, value: Any, where: str, *, integrity: bool, name: str) -> Severity:
        if value not in SEVERITIES:
            raise self.fail(f"must be one of {', '.join(SEVERITIES)} (found {_show(value)})", where)
        if value == "critical" and not integrity:
            raise self.fail(
                f"critical is reserved for integrity and signature checks; {name} is not one",
                where,
            )
        sev: Severity = value
        return sev

    def policy(self, entry: Any, where: str) -> Policy:
        raw = self.mapping(entry, where, "a policy")
        if "expression" in raw and "check" in raw:
            raise self.fail("give exactly one of check and expression", f"{where}.expression")
        if "expression" in raw:
            return self.cel_policy(raw, where)
        self.keys(raw, where, _POLICY_REQUIRED, _POLICY_OPTIONAL)
        pid = self.policy_id(raw, where)
        name = self.string(raw["check"], f"{where}.check", limit=63)
        spec = self.registry.get(name)
        if spec is None:
            known = ", ".join(self.registry.names())
            raise self.fail(f"unknown check {name!r} (registered: {known})", f"{where}.check")
        severity = self.severity(
            raw["severity"], f"{where}.severity", integrity=spec.integrity, name=name
        )
        description = self.string(
            raw["description"], f"{where}.description", limit=_MAX_DESCRIPTION
        )
        actions = self.actions(raw["actions"], f"{where}.actions")
        if name in PROD_ENFORCED_CHECKS and actions["prod"] != "enforce":
            raise self.fail(
                f"policy {pid!r}: prod always requires a valid signature by trusted keys, so "
                f"{name} must enforce in prod (found {actions['prod']!r})",
                f"{where}.actions.prod",
            )
        params, resolved = self.params(spec, raw, where)
        return Policy(
            id=pid,
            check=name,
            severity=severity,
            description=description.strip(),
            actions=actions,
            params=params,
            resolved=resolved,
            spec=spec,
        )

    def cel_policy(self, raw: Mapping[str, Any], where: str) -> Policy:
        """A bundle entry with an `expression`: compiled here, once, or the bundle is refused."""
        self.keys(raw, where, _CEL_REQUIRED, _CEL_OPTIONAL)
        pid = self.policy_id(raw, where)
        if pid in self.registry:
            raise self.fail(f"{pid!r} is the name of a built-in check", f"{where}.id")
        scenarios = self.scenarios(raw["scenarios"], f"{where}.scenarios")
        severity = self.severity(
            raw["severity"], f"{where}.severity", integrity=False, name="a CEL policy"
        )
        actions = self.actions(raw["actions"], f"{where}.actions")
        source = self.string(raw["expression"], f"{where}.expression", limit=1 << 20)
        program = self.compile(pid, source, scenarios, f"{where}.expression")
        if "message" in raw and "messageExpression" in raw:
            raise self.fail("give at most one of message and messageExpression", f"{where}.message")
        message = (
            self.string(raw["message"], f"{where}.message", limit=_MAX_DESCRIPTION).strip()
            if "message" in raw
            else f"the expression is false: {' '.join(source.split())[:200]}"
        )
        message_expr = (
            self.compile(
                pid,
                self.string(raw["messageExpression"], f"{where}.messageExpression", limit=1 << 20),
                scenarios,
                f"{where}.messageExpression",
            )
            if "messageExpression" in raw
            else None
        )
        target = (
            self.string(raw["field"], f"{where}.field", limit=_MAX_FIELD) if "field" in raw else ""
        )
        description = (
            self.string(raw["description"], f"{where}.description", limit=_MAX_DESCRIPTION)
            if "description" in raw
            else message
        )
        uses_config = "config" in program.variables | (
            message_expr.variables if message_expr else frozenset()
        )
        spec = CheckSpec(
            name=CEL_CHECK,
            fn=_cel_check(program, message, message_expr, target),
            scenarios=scenarios,
            reads="config" if uses_config else "hashes" if scenarios == {"T2"} else "signature",
            params=MappingProxyType({}),
            integrity=False,
            doc=description.strip(),
        )
        empty: Mapping[str, Any] = MappingProxyType({})
        return Policy(
            id=pid,
            check=CEL_CHECK,
            severity=severity,
            description=description.strip(),
            actions=actions,
            params=empty,
            resolved=MappingProxyType({env: empty for env in ENVS}),
            spec=spec,
            expression=program,
        )

    def scenarios(self, value: Any, where: str) -> frozenset[Scenario]:
        if not isinstance(value, list) or not value:
            raise self.fail(f"must be a non-empty list of T1, T2 (found {_kind(value)})", where)
        out: set[Scenario] = set()
        for i, item in enumerate(value):
            if item == "T1":
                out.add("T1")
            elif item == "T2":
                out.add("T2")
            else:
                raise self.fail(f"must be T1 or T2 (found {_show(item)})", f"{where}[{i}]")
        return frozenset(out)

    def compile(
        self, pid: str, source: str, scenarios: frozenset[Scenario], where: str
    ) -> cel.CelProgram:
        from webhook.policies import cel  # noqa: PLC0415  (start-up time: CEL policies only)

        try:
            return cel.compile_expression(source, scenarios=scenarios)
        except cel.CelCompileError as exc:
            raise self.fail(f"policy {pid!r}: CEL {exc}", where) from None

    def actions(self, value: Any, where: str) -> Mapping[Env, Action]:
        raw = self.mapping(value, where, "actions")
        self.keys(raw, where, ENVS)
        out: dict[Env, Action] = {}
        for env in ENVS:
            action = raw[env]
            if action is False:
                raise self.fail(
                    'found false: YAML reads an unquoted off as false; write "off"',
                    f"{where}.{env}",
                )
            if action not in ACTIONS:
                raise self.fail(
                    f"must be one of {', '.join(ACTIONS)} (found {_show(action)})",
                    f"{where}.{env}",
                )
            out[env] = action
        return MappingProxyType(out)

    def params(
        self, spec: CheckSpec, raw: Mapping[str, Any], where: str
    ) -> tuple[Mapping[str, Any], Mapping[Env, Mapping[str, Any]]]:
        given = self.mapping(raw.get("params", {}), f"{where}.params", "params")
        try:
            common = spec.resolve_params(given)
        except ParamError as exc:
            raise self.fail(exc.message, f"{where}.params.{exc.field}") from None
        overlays = self.mapping(raw.get("env_params", {}), f"{where}.env_params", "env_params")
        self.keys(overlays, f"{where}.env_params", (), ENVS)
        resolved: dict[Env, Mapping[str, Any]] = {}
        for env in ENVS:
            at = f"{where}.env_params.{env}"
            overlay = self.mapping(overlays.get(env, {}), at, f"env_params.{env}")
            try:
                resolved[env] = spec.resolve_params(overlay, base=common, env=True)
            except ParamError as exc:
                raise self.fail(exc.message, f"{at}.{exc.field}") from None
        return common, MappingProxyType(resolved)


def _cel_check(
    program: cel.CelProgram, message: str, message_expr: cel.CelProgram | None, target: str
) -> Any:
    """The CheckFn of one CEL policy: true is compliant, false one Violation at `target`.

    Every failure (an input CEL cannot hold, an evaluation error, a non-bool) raises
    CelEvalError, which the engine turns into an enforce finding.
    """

    def check(ctx: PolicyContext, _params: Mapping[str, Any]) -> list[Violation]:
        activation = ctx.cel_activation
        if program.run_bool(activation):
            return []
        text = message_expr.run_string(activation) if message_expr is not None else message
        return [Violation(target, text)]

    return check


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(params.items())}


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _show(value: Any) -> str:
    return (
        repr(value)
        if isinstance(value, str | bool | int | float) or value is None
        else _kind(value)
    )


def load_bundle(data: bytes, *, source: str, registry: Registry = REGISTRY) -> PolicyBundle:
    """Parse and validate a bundle from its exact bytes; raises ConfigError naming the field."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise ConfigError(
            f"policy bundle is larger than the {MAX_BUNDLE_BYTES}-byte limit", file=source
        )
    try:
        # a bundle has no use for anchors: any alias is refused
        doc = load_yaml(data, source=source, limits=_BUNDLE_LIMITS)
    except InputError as exc:
        raise ConfigError(exc.message, file=source, field=exc.field) from None
    policies = _Loader(source, registry).bundle(doc)
    return PolicyBundle(
        policies=policies,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        source=source,
        data=bytes(data),
    )


# memo: one entry (the shipped bundle, immutable); measured 7.8 ms a load -> once a process
@functools.cache
def default_bundle() -> PolicyBundle:
    """The bundle shipped in the package (loaded once; it cannot change while running)."""
    data = resources.files("webhook.policies").joinpath("default.yaml").read_bytes()
    return load_bundle(data, source=DEFAULT_SOURCE)
