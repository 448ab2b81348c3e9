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
from typing import Any, get_args

import webhook.policies.checks  # noqa: F401  (registers the built-in checks)
from webhook.contracts.decision import Action, Severity
from webhook.contracts.limits import ParseLimits
from webhook.contracts.reasons import BUILTIN_REASONS
from webhook.contracts.strict import load_yaml
from webhook.errors import ConfigError, InputError
from webhook.policies._describe import kind as _kind
from webhook.policies.context import ENVS, Env
from webhook.policies.registry import REGISTRY, CheckSpec, ParamError, Registry

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

    def action_for(self, env: str) -> Action:
        """The action in `env`; anything but "staging" is prod (strictest)."""
        return self.actions["staging" if env == "staging" else "prod"]

    def params_for(self, env: str) -> Mapping[str, Any]:
        return self.resolved["staging" if env == "staging" else "prod"]

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

    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.policies)


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

    def policy(self, entry: Any, where: str) -> Policy:
        raw = self.mapping(entry, where, "a policy")
        self.keys(raw, where, _POLICY_REQUIRED, _POLICY_OPTIONAL)
        pid = self.string(raw["id"], f"{where}.id", limit=63)
        if not _ID.fullmatch(pid):
            raise self.fail(
                f"must be lowercase letters, digits and '-' (found {pid!r})", f"{where}.id"
            )
        if pid in RESERVED_IDS:
            raise self.fail(f"{pid!r} is a reason id the pipelines emit themselves", f"{where}.id")
        name = self.string(raw["check"], f"{where}.check", limit=63)
        spec = self.registry.get(name)
        if spec is None:
            known = ", ".join(self.registry.names())
            raise self.fail(f"unknown check {name!r} (registered: {known})", f"{where}.check")
        severity = raw["severity"]
        if severity not in SEVERITIES:
            raise self.fail(
                f"must be one of {', '.join(SEVERITIES)} (found {_show(severity)})",
                f"{where}.severity",
            )
        if severity == "critical" and not spec.integrity:
            raise self.fail(
                f"critical is reserved for integrity and signature checks; {name} is not one",
                f"{where}.severity",
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


@functools.cache
def default_bundle() -> PolicyBundle:
    """The bundle shipped in the package (loaded once; it cannot change while running)."""
    data = resources.files("webhook.policies").joinpath("default.yaml").read_bytes()
    return load_bundle(data, source=DEFAULT_SOURCE)
