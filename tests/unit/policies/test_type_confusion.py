"""Hostile, type-confused config never makes a check raise: it is a violation naming the field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.policies.conftest import config_with, good_config, run_t1

#: (yaml patch, policy, field, text the message must contain)
CASES = [
    ('tls: "yes"', "tls-required", "tls", 'found "yes"'),
    ("tls: [true]", "tls-required", "tls", "found a list"),
    ('tls: {enabled: "true"}', "tls-required", "tls.enabled", 'found "true"'),
    ("tls: {enabled: 1}", "tls-required", "tls.enabled", "found integer 1"),
    ("tls: {min_version: '1.3'}", "tls-required", "tls.enabled", "not set"),
    (
        "tls: {enabled: true, min_version: 1.2}",
        "tls-min-version",
        "tls.min_version",
        "found number 1.2",
    ),
    (
        "tls: {enabled: true, min_version: banana}",
        "tls-min-version",
        "tls.min_version",
        'found "banana"',
    ),
    (
        'tls: {enabled: true, min_version: "1.10"}',
        "tls-min-version",
        "tls.min_version",
        'found "1.10"',
    ),
    ('tls: {enabled: true, min_version: ""}', "tls-min-version", "tls.min_version", 'found ""'),
    ("ports: {}", "no-public-bind", "ports", "found a mapping"),
    ('ports: "0.0.0.0:80"', "no-public-bind", "ports", 'found "0.0.0.0:80"'),
    ("ports: [8080]", "no-public-bind", "ports[0]", "found integer 8080"),
    ("ports: [{name: h, port: 80, bind: 0}]", "no-public-bind", "ports[0].bind", "found integer 0"),
    (
        "ports: [{name: h, port: 80, bind: 127.0.0.1, exposure: true}]",
        "no-public-bind",
        "ports[0].exposure",
        "found true",
    ),
    (
        "ports: [{name: h, port: 80, bind: 127.0.0.1, exposure: external}]",
        "no-public-bind",
        "ports[0].exposure",
        'found "external"',
    ),
    ("secrets_ref: 12345", "secrets-ref-required", "secrets_ref", "found an integer"),
    ("secrets_ref: {vault: kv/x}", "secrets-ref-required", "secrets_ref", "found a mapping"),
    ('secrets_ref: ""', "secrets-ref-required", "secrets_ref", "found an empty string"),
    ("secrets_ref: vault://", "secrets-ref-required", "secrets_ref", "empty or malformed vault://"),
    (
        "secrets_ref: https://vault.internal/x",
        "secrets-ref-required",
        "secrets_ref",
        "found scheme https://",
    ),
    ("security: {privileged: 'false'}", "no-privileged", "security.privileged", 'found "false"'),
    ("security: {privileged: 1}", "no-privileged", "security.privileged", "found integer 1"),
    ("security: {run_as_root: 'no'}", "no-root", "security.run_as_root", 'found "no"'),
    ("security: {run_as_user: '0'}", "no-root", "security.run_as_user", 'found "0"'),
    ("security: {run_as_user: false}", "no-root", "security.run_as_user", "found false"),
    ("security: {run_as_user: -1}", "no-root", "security.run_as_user", "found integer -1"),
    (
        "security: {capabilities: SYS_ADMIN}",
        "no-added-caps",
        "security.capabilities",
        'found "SYS_ADMIN"',
    ),
    (
        "security: {capabilities: [1]}",
        "no-added-caps",
        "security.capabilities[0]",
        "found integer 1",
    ),
    (
        "security: {capabilities: {add: NET_ADMIN}}",
        "no-added-caps",
        "security.capabilities.add",
        'found "NET_ADMIN"',
    ),
    (
        "security: {capabilities: {add: [NET_ADMIN], drop: [ALL]}}",
        "no-added-caps",
        "security.capabilities.add[0]",
        "NET_ADMIN",
    ),
    (
        "security: {capabilities: {grant: [NET_ADMIN]}}",
        "no-added-caps",
        "security.capabilities.grant",
        "only add and drop",
    ),
]


@pytest.mark.parametrize(("patch", "policy", "field", "fragment"), CASES)
def test_type_confused_field_is_a_violation(
    patch: str, policy: str, field: str, fragment: str
) -> None:
    findings = run_t1(config_with(patch), "prod")
    assert [(f.policy, f.field) for f in findings] == [(policy, field)]
    assert fragment in findings[0].message
    assert not findings[0].message.startswith("check raised")


@pytest.mark.parametrize("security", ['"privileged"', "[privileged]", "42"])
def test_security_not_a_mapping_is_reported_by_each_privilege_policy(security: str) -> None:
    findings = run_t1(config_with(f"security: {security}"), "prod")
    assert [(f.policy, f.field) for f in findings] == [
        ("no-privileged", "security"),
        ("no-root", "security"),
        ("no-added-caps", "security"),
    ]


def test_missing_tls_key_names_the_tls_field() -> None:
    cfg = good_config()
    del cfg["tls"]
    [finding] = run_t1(cfg, "prod")
    assert (finding.policy, finding.field) == ("tls-required", "tls")
    assert finding.message == "prod requires tls.enabled: true (no tls section)"


JUNK: list[Any] = [
    10**5000,
    float("nan"),
    None,
    True,
    False,
    0,
    -1,
    1.5,
    "",
    "x",
    "0.0.0.0",
    [],
    {},
    [None],
    [[]],
    {"a": None},
    {"enabled": {"x": 1}},
    [{"bind": []}],
    {"add": {"x": 1}},
]
KEYS = ["tls", "ports", "secrets_ref", "security", "db"]
SUBKEYS = {
    "tls": ["enabled", "min_version"],
    "security": ["privileged", "run_as_root", "run_as_user", "capabilities"],
}


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("junk", JUNK, ids=lambda v: type(v).__name__)
def test_no_check_ever_raises_on_junk(key: str, junk: Any) -> None:
    """Every junk value at every known key and sub-key: findings, never an exception."""
    variants: list[dict[str, Any]] = [{**good_config(), key: junk}]
    for sub in SUBKEYS.get(key, []):
        cfg = good_config()
        cfg[key] = {**cfg[key], sub: junk}
        variants.append(cfg)
    if key == "ports":
        for sub in ("bind", "exposure", "port"):
            cfg = good_config()
            cfg["ports"] = [{**cfg["ports"][0], sub: junk}]
            variants.append(cfg)
    for cfg in variants:
        for env in ("prod", "staging"):
            for finding in run_t1(cfg, env):
                assert not finding.message.startswith("check raised"), finding


def test_deeply_nested_config_is_bounded_not_a_crash() -> None:
    deep: Any = "leaf"
    for _ in range(200):
        deep = {"x": deep}
    cfg = {**good_config(), "deep": deep}
    findings = [f for f in run_t1(cfg, "prod") if f.policy == "no-inline-secrets"]
    assert len(findings) == 1
    assert "too deep or too large" in findings[0].message
    assert findings[0].action == "enforce"


def test_yaml_one_point_one_booleans_are_not_trusted_as_strings() -> None:
    # `enabled: yes` is a YAML 1.1 boolean true; `min_version: 1.2` is a float, not a version
    cfg = yaml.safe_load("tls: {enabled: yes, min_version: 1.2}")
    findings = run_t1({**good_config(), **cfg}, "prod")
    assert [(f.policy, f.field) for f in findings] == [("tls-min-version", "tls.min_version")]
