"""The engine: order, env fallback, fail-closed handling of broken checks, and extensibility."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.unit.policies.conftest import config_with, good_config, run_t1
from webhook.errors import ConfigError
from webhook.policies import (
    REGISTRY,
    Finding,
    Param,
    PolicyContext,
    Registry,
    SignatureFacts,
    Violation,
    default_bundle,
    enforced,
    evaluate,
    load_bundle,
    register,
)
from webhook.policies.engine import MAX_FINDINGS_PER_POLICY

BAD = """\
tls: {enabled: false}
ports: [{name: h, port: 80, bind: "0.0.0.0", exposure: public}]
secrets_ref: hunter2
security: {privileged: true, run_as_root: true, capabilities: [SYS_ADMIN]}
"""


def bundle_text(
    check: str, actions: str = "{prod: enforce, staging: warn}", extra: str = ""
) -> bytes:
    return (
        "apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n"
        f"  - id: {check}\n    check: {check}\n    severity: low\n    description: test\n"
        f"    actions: {actions}\n{extra}"
    ).encode()


def ctx_for(config: Mapping[str, Any] | None, env: str = "prod") -> PolicyContext:
    return PolicyContext(scenario="T1", env=env, config=config)


def test_findings_follow_bundle_order_then_document_order() -> None:
    findings = run_t1(config_with(BAD), "prod")
    assert [(f.policy, f.field) for f in findings] == [
        ("tls-required", "tls.enabled"),
        ("no-public-bind", "ports[0].bind"),
        ("no-public-bind", "ports[0].exposure"),
        ("secrets-ref-required", "secrets_ref"),
        ("no-privileged", "security.privileged"),
        ("no-root", "security.run_as_root"),
        ("no-added-caps", "security.capabilities[0]"),
    ]


def test_same_inputs_give_identical_findings() -> None:
    first = run_t1(config_with(BAD), "prod")
    assert all(run_t1(config_with(BAD), "prod") == first for _ in range(5))


def test_reordering_the_bundle_reorders_findings() -> None:
    data = default_bundle().data
    head, _, rest = data.partition(b"policies:\n")
    entries = rest.split(b"\n\n")
    reversed_bundle = load_bundle(
        head + b"policies:\n" + b"\n\n".join(reversed(entries)), source="reversed.yaml"
    )
    ctx = ctx_for(config_with(BAD))
    forward = [f.policy for f in evaluate(default_bundle(), ctx)]
    backward = [f.policy for f in evaluate(reversed_bundle, ctx)]
    assert list(dict.fromkeys(backward)) == list(reversed(list(dict.fromkeys(forward))))


@pytest.mark.parametrize("env", ["Prod", "dev", "", "production", "STAGING"])
def test_unknown_env_is_evaluated_as_prod(env: str) -> None:
    findings = run_t1(config_with("tls: {enabled: false}"), env)
    assert [(f.policy, f.action) for f in findings] == [("tls-required", "enforce")]
    assert findings[0].message.startswith("prod ")


def test_off_policies_do_not_run() -> None:
    bundle = load_bundle(
        bundle_text("tls-required", '{prod: enforce, staging: "off"}'), source="b.yaml"
    )
    ctx = ctx_for(config_with("tls: {enabled: false}"), "staging")
    assert evaluate(bundle, ctx) == []


def test_unparsed_config_blocks_every_config_policy_in_t1() -> None:
    findings = run_t1(None, "prod")
    config_policies = [p.id for p in default_bundle().policies if p.spec.reads == "config"]
    assert [f.policy for f in findings] == config_policies
    assert all(f.action == "enforce" and "not evaluated" in f.message for f in findings)
    # staging keeps each policy's own action
    staging = {f.policy: f.action for f in run_t1(None, "staging")}
    assert staging["tls-required"] == "warn"


def test_finding_carries_everything_a_reason_needs() -> None:
    [finding] = run_t1(config_with("tls: {enabled: false}"), "staging")
    assert finding == Finding(
        policy="tls-required",
        check="tls-required",
        severity="high",
        action="warn",
        field="tls.enabled",
        message="staging requires tls.enabled: true (found false)",
        file="app-config.yaml",
    )
    assert enforced([finding]) == []


def test_custom_config_file_name_is_used() -> None:
    ctx = PolicyContext(
        scenario="T1",
        env="prod",
        config=config_with("tls: {enabled: false}"),
        config_file="spec.config",
        signature=SignatureFacts(present=True, verified=True, trust_configured=True),
    )
    [finding] = evaluate(default_bundle(), ctx)
    assert finding.file == "spec.config"


def test_context_hashes_are_read_only() -> None:
    source = {"expected_snapshot_hash": "sha256"}
    ctx = PolicyContext(scenario="T2", env="prod", config=None, hashes=source)
    source["x"] = "md5"
    assert dict(ctx.hashes) == {"expected_snapshot_hash": "sha256"}
    with pytest.raises(TypeError):
        ctx.hashes["y"] = "md5"  # type: ignore[index]


# --- fail closed ------------------------------------------------------------------------------


def test_a_raising_check_becomes_an_enforce_finding(scratch_checks: list[str]) -> None:
    scratch_checks.append("tmp-raises")

    @register("tmp-raises", scenarios=("T1",))
    def boom(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
        yield Violation("a", "first")
        raise RuntimeError("boom\nsecond line")

    bundle = load_bundle(bundle_text("tmp-raises", "{prod: warn, staging: audit}"), source="b.yaml")
    for env in ("prod", "staging"):
        findings = evaluate(bundle, ctx_for(good_config(), env))
        assert [(f.policy, f.action, f.message) for f in findings] == [
            ("tmp-raises", "enforce", "check raised RuntimeError: boom second line")
        ]


def test_a_check_returning_junk_is_an_enforce_finding(scratch_checks: list[str]) -> None:
    scratch_checks.append("tmp-junk")

    @register("tmp-junk", scenarios=("T1",))
    def junk(ctx: PolicyContext, params: Mapping[str, Any]) -> Any:
        return ["not a violation"]

    bundle = load_bundle(bundle_text("tmp-junk", "{prod: audit, staging: audit}"), source="b.yaml")
    [finding] = evaluate(bundle, ctx_for(good_config()))
    assert finding.action == "enforce"
    assert finding.message.startswith("check raised TypeError: check returned str")


def test_an_endless_check_is_bounded(scratch_checks: list[str]) -> None:
    scratch_checks.append("tmp-endless")

    @register("tmp-endless", scenarios=("T1",))
    def endless(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
        i = 0
        while True:
            yield Violation(f"x[{i}]", "bad")
            i += 1

    bundle = load_bundle(bundle_text("tmp-endless"), source="b.yaml")
    findings = evaluate(bundle, ctx_for(good_config()))
    assert len(findings) == MAX_FINDINGS_PER_POLICY + 1
    assert "not listed" in findings[-1].message


def test_duplicate_violations_are_reported_once(scratch_checks: list[str]) -> None:
    scratch_checks.append("tmp-dupes")

    @register("tmp-dupes", scenarios=("T1",))
    def dupes(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
        yield Violation("a", "same")
        yield Violation("a", "same")
        yield Violation("b", "same")

    bundle = load_bundle(bundle_text("tmp-dupes"), source="b.yaml")
    assert [f.field for f in evaluate(bundle, ctx_for(good_config()))] == ["a", "b"]


# --- extending --------------------------------------------------------------------------------


def test_adding_a_check_is_a_function_plus_a_bundle_entry(scratch_checks: list[str]) -> None:
    """The documented recipe (docs/policies.md), end to end."""
    scratch_checks.append("max-replicas")

    @register(
        "max-replicas",
        scenarios=("T1",),
        params={"max": Param("int", 10, doc="most replicas allowed", minimum=1)},
    )
    def max_replicas(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
        """replicas must not exceed params.max."""
        assert ctx.config is not None
        replicas = ctx.config.get("replicas", 1)
        if not isinstance(replicas, int) or replicas > params["max"]:
            yield Violation(
                "replicas",
                f"{ctx.effective_env} allows at most {params['max']} replicas (found {replicas!r})",
            )

    spec = REGISTRY.get("max-replicas")
    assert spec is not None and spec.doc == "replicas must not exceed params.max."
    extra = "    params: {max: 3}\n    env_params: {staging: {max: 5}}\n"
    bundle = load_bundle(bundle_text("max-replicas", extra=extra), source="b.yaml")
    cfg = {**good_config(), "replicas": 4}
    prod = evaluate(bundle, ctx_for(cfg, "prod"))
    assert [(f.policy, f.field, f.action, f.message) for f in prod] == [
        ("max-replicas", "replicas", "enforce", "prod allows at most 3 replicas (found 4)")
    ]
    assert evaluate(bundle, ctx_for(cfg, "staging")) == []
    REGISTRY.unregister("max-replicas")
    with pytest.raises(ConfigError) as info:
        load_bundle(bundle_text("max-replicas", extra=extra), source="b.yaml")
    assert info.value.field == "policies[0].check"


def test_registering_a_duplicate_name_is_an_error() -> None:
    registry = Registry()

    def check(ctx: PolicyContext, params: Mapping[str, Any]) -> list[Violation]:
        return []

    registry.register("dup", scenarios=("T1",))(check)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("dup", scenarios=("T2",))(check)
    with pytest.raises(ValueError, match="already registered"):
        register("tls-required", scenarios=("T1",))(check)


@pytest.mark.parametrize(
    ("name", "scenarios", "message"),
    [
        ("Bad_Name", ("T1",), "lowercase"),
        ("ok-name", (), "declare the scenarios"),
        ("ok-name", ("T3",), "unknown scenario"),
    ],
)
def test_registration_is_validated(name: str, scenarios: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Registry().register(name, scenarios=scenarios)


def test_a_param_default_that_breaks_its_own_rule_is_refused() -> None:
    with pytest.raises(ValueError):
        Registry().register("x", scenarios=("T1",), params={"min": Param("int", 0, minimum=1)})


def test_private_registry_keeps_global_one_untouched() -> None:
    registry = Registry()

    @registry.register("only-here", scenarios=("T2",), reads="hashes")
    def only_here(ctx: PolicyContext, params: Mapping[str, Any]) -> list[Violation]:
        return [Violation("h", "seen")]

    assert "only-here" not in REGISTRY
    bundle = load_bundle(bundle_text("only-here"), source="b.yaml", registry=registry)
    t2 = PolicyContext(scenario="T2", env="prod", config=None, hash_file="m.yaml")
    assert [(f.field, f.file) for f in evaluate(bundle, t2)] == [("h", "m.yaml")]
    assert evaluate(bundle, ctx_for(good_config())) == []  # T1: does not apply
