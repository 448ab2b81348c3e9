"""Every built-in check through the DEFAULT bundle, in prod and in staging.

Each case is a real config change; the finding must carry the right policy, field and the action
the default bundle gives that env (None = no finding in that env).
"""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from tests.unit.policies.conftest import config_with, good_config, run_t1, run_t2
from webhook.policies import default_bundle

#: (case, yaml patch, policy, field, prod action, staging action)
T1_CASES = [
    ("tls disabled", "tls: {enabled: false}", "tls-required", "tls.enabled", "enforce", "warn"),
    ("tls section missing", "tls: null", "tls-required", "tls", "enforce", "warn"),
    (
        "tls 1.1",
        'tls: {enabled: true, min_version: "1.1"}',
        "tls-min-version",
        "tls.min_version",
        "enforce",
        "warn",
    ),
    (
        "tls min unset",
        "tls: {enabled: true}",
        "tls-min-version",
        "tls.min_version",
        "enforce",
        "warn",
    ),
    (
        "bind 0.0.0.0",
        'ports: [{name: h, port: 80, bind: "0.0.0.0", exposure: internal}]',
        "no-public-bind",
        "ports[0].bind",
        "enforce",
        "warn",
    ),
    (
        "exposure public",
        "ports: [{name: h, port: 80, bind: 127.0.0.1, exposure: public}]",
        "no-public-bind",
        "ports[0].exposure",
        "enforce",
        "warn",
    ),
    (
        "no secrets_ref",
        "secrets_ref: null",
        "secrets-ref-required",
        "secrets_ref",
        "enforce",
        "enforce",
    ),
    (
        "literal secrets_ref",
        "secrets_ref: hunter2",
        "secrets-ref-required",
        "secrets_ref",
        "enforce",
        "enforce",
    ),
    (
        "inline password",
        "db: {host: db.internal, password: hunter2}",
        "no-inline-secrets",
        "db.password",
        "enforce",
        "enforce",
    ),
    (
        "privileged",
        "security: {privileged: true}",
        "no-privileged",
        "security.privileged",
        "enforce",
        "enforce",
    ),
    (
        "run as root",
        "security: {run_as_root: true}",
        "no-root",
        "security.run_as_root",
        "enforce",
        "warn",
    ),
    ("uid 0", "security: {run_as_user: 0}", "no-root", "security.run_as_user", "enforce", "warn"),
    (
        "SYS_ADMIN",
        "security: {capabilities: [SYS_ADMIN]}",
        "no-added-caps",
        "security.capabilities[0]",
        "enforce",
        "enforce",
    ),
    (
        "NET_BIND_SERVICE",
        "security: {capabilities: [NET_BIND_SERVICE]}",
        "no-added-caps",
        "security.capabilities[0]",
        "enforce",
        None,
    ),
]


@pytest.mark.parametrize("env", ["prod", "staging"])
def test_compliant_config_has_no_findings(env: str) -> None:
    assert run_t1(good_config(), env, trust=True, signed=True) == []


@pytest.mark.parametrize(
    ("patch", "policy", "field", "prod", "staging"),
    [pytest.param(*case[1:], id=case[0]) for case in T1_CASES],
)
@pytest.mark.parametrize("env", ["prod", "staging"])
def test_t1_check_per_env(
    env: str, patch: str, policy: str, field: str, prod: str, staging: str | None
) -> None:
    findings = run_t1(config_with(patch), env)
    expected = prod if env == "prod" else staging
    if expected is None:
        assert findings == []
        return
    assert [(f.policy, f.field, f.action) for f in findings] == [(policy, field, expected)]
    finding = findings[0]
    assert finding.file == "app-config.yaml"
    assert finding.message.startswith(f"{env} ")
    assert finding.severity == default_bundle().get(policy).severity  # type: ignore[union-attr]


def test_prod_message_reads_like_a_deny_message() -> None:
    [finding] = run_t1(config_with("tls: {enabled: false}"), "prod")
    assert finding.message == "prod requires tls.enabled: true (found false)"


@pytest.mark.parametrize(("env", "action"), [("prod", "enforce"), ("staging", "audit")])
@pytest.mark.parametrize("scenario", ["T1", "T2"])
def test_signature_required_when_trust_configured(scenario: str, env: str, action: str) -> None:
    if scenario == "T1":
        findings = run_t1(good_config(), env, trust=True, signed=False)
    else:
        findings = run_t2({"expected_snapshot_hash": "sha256"}, env, trust=True, signed=False)
    assert [(f.policy, f.field, f.action, f.severity) for f in findings] == [
        ("signature-required", "signature", action, "critical")
    ]
    assert findings[0].file is None
    expected_file = "migration_manifest.dsse.json" if scenario == "T1" else "snapshot.dsse.json"
    assert expected_file in findings[0].message
    assert "found no signature" in findings[0].message


def test_unsigned_staging_without_trust_store_is_fine_by_default() -> None:
    assert run_t1(good_config(), "staging", trust=False, signed=False) == []
    assert run_t2({"expected_snapshot_hash": "sha512"}, "staging", trust=False, signed=False) == []


@pytest.mark.parametrize("env", ["prod", "PROD", "", "stage"])
def test_unsigned_prod_is_blocked_even_without_trust_store(env: str) -> None:
    """Issue 11 item 1: empty trust is no trust; prod (and anything not "staging") needs one."""
    for findings in (
        run_t1(good_config(), env, trust=False, signed=False),
        run_t2({"expected_snapshot_hash": "sha512"}, env, trust=False, signed=False),
    ):
        assert [(f.policy, f.action) for f in findings] == [("signature-required", "enforce")]
        assert "prod always requires one" in findings[0].message


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "unprefixed"])
@pytest.mark.parametrize("env", ["prod", "staging"])
def test_weak_hash_forbidden_in_both_envs(env: str, algorithm: str) -> None:
    findings = run_t2({"expected_snapshot_hash": "sha256", "wal_files[1].sha256": algorithm}, env)
    assert [(f.policy, f.field, f.action, f.file) for f in findings] == [
        ("weak-hash-forbidden", "wal_files[1].sha256", "enforce", "replication_manifest.yaml")
    ]
    shown = "an unprefixed digest" if algorithm == "unprefixed" else algorithm
    assert findings[0].message == (
        f"outdated hashing: found {shown}, expected sha256/sha384/sha512 with prefix"
    )


def test_t1_config_checks_do_not_run_for_t2() -> None:
    assert run_t2({"expected_snapshot_hash": "sha384"}, "prod") == []


def test_default_bundle_per_env_table() -> None:
    """The documented table (docs/policies.md); a change here is a policy change, review it."""
    table = {
        p.id: (p.check, p.severity, p.actions["prod"], p.actions["staging"])
        for p in default_bundle().policies
    }
    assert table == {
        "tls-required": ("tls-required", "high", "enforce", "warn"),
        "tls-min-version": ("tls-min-version", "medium", "enforce", "warn"),
        "no-public-bind": ("no-public-bind", "high", "enforce", "warn"),
        "secrets-ref-required": ("secrets-ref-required", "high", "enforce", "enforce"),
        "no-inline-secrets": ("no-inline-secrets", "high", "enforce", "enforce"),
        "no-privileged": ("no-privileged", "high", "enforce", "enforce"),
        "no-root": ("no-root", "high", "enforce", "warn"),
        "no-added-caps": ("no-added-caps", "medium", "enforce", "enforce"),
        "signature-required": ("signature-required", "critical", "enforce", "audit"),
        "weak-hash-forbidden": ("weak-hash-forbidden", "critical", "enforce", "enforce"),
    }
    caps = default_bundle().get("no-added-caps")
    assert caps is not None
    assert caps.params_for("prod")["allow"] == ()
    assert caps.params_for("staging")["allow"] == ("NET_BIND_SERVICE",)


def test_prod_enforces_everything() -> None:
    assert {p.actions["prod"] for p in default_bundle().policies} == {"enforce"}


def test_default_bundle_digest_is_sha256_of_packaged_bytes() -> None:
    data = resources.files("webhook.policies").joinpath("default.yaml").read_bytes()
    bundle = default_bundle()
    assert bundle.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert bundle.data == data
