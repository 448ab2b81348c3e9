"""Check-level behaviour: what counts as public, as a secret, as a TLS version, as a weak hash."""

from __future__ import annotations

import pytest

from tests.unit.policies.conftest import config_with, good_config, run_t1, run_t2
from webhook.policies import PolicyContext, SignatureFacts, evaluate, load_bundle
from webhook.policies.checks.network import public_bind, valid_bind
from webhook.policies.checks.secrets import is_reference, is_secret_key
from webhook.policies.checks.tls import parse_tls_version


@pytest.mark.parametrize(
    "bind",
    [
        "0.0.0.0",
        "::",
        "[::]",
        "[::]:8443",
        "0.0.0.0/0",
        "::/0",
        "*",
        "*:80",
        "",
        " ",
        ":8443",
        "0.0.0.0:8443",
        "0",
        "0x0",
        "0.0",
        "::ffff:0.0.0.0",
        "8.8.8.8",
        "8.8.8.8:53",
        "2001:4860:4860::8888",
        "1.0.0.0/8",
    ],
)
def test_public_binds(bind: str) -> None:
    assert public_bind(bind) is not None
    assert valid_bind(bind)


@pytest.mark.parametrize(
    "bind",
    [
        "127.0.0.1",
        "127.0.0.1:8443",
        "::1",
        "[::1]:8443",
        "10.0.0.5",
        "192.168.1.10",
        "fd00::1",
        "fe80::1%eth0",
        "localhost",
        "LOCALHOST:8080",
        "10.0.0.0/8",
    ],
)
def test_private_binds(bind: str) -> None:
    assert public_bind(bind) is None
    assert valid_bind(bind)


@pytest.mark.parametrize(
    "bind",
    [
        "db.internal",
        "db.internal:5432",
        "example.com",
        "localhost.attacker.tld",
        "localhost.",
        "my-localhost",
        "127.1",
        "0x7f.1",
        "10.1",
    ],
)
def test_host_names_and_short_ipv4_forms_are_refused(bind: str) -> None:
    """Issue 11 item 9: the gate does not resolve names, so it cannot vouch for one."""
    assert valid_bind(bind)
    why = public_bind(bind)
    assert why is not None and ("host name" in why or "short IPv4 form" in why)
    cfg = config_with("ports: [{name: a, port: 1, exposure: internal}]")
    cfg["ports"][0]["bind"] = bind
    for env, action in (("prod", "enforce"), ("staging", "warn")):
        [finding] = run_t1(cfg, env)
        assert (finding.policy, finding.field, finding.action) == (
            "no-public-bind",
            "ports[0].bind",
            action,
        )


def test_short_ipv4_form_names_the_address() -> None:
    assert public_bind("127.1") == (
        "a short IPv4 form that other parsers read as a host name (write 127.0.0.1)"
    )
    assert public_bind("0.0") == "all interfaces"


@pytest.mark.parametrize(
    "bind",
    [
        "not an address/x",
        "0.0.0.0\nx",
        "host name",
        "127.0.0.1:http",
        "127.0.0.1:0",
        "127.0.0.1:70000",
        "127.0.0.1:" + "9" * 5000,
        "[::1",
        "-bad-.example",
        "a..b",
    ],
)
def test_invalid_binds_are_a_violation(bind: str) -> None:
    assert not valid_bind(bind)
    cfg = config_with("ports: [{name: a, port: 1}]")
    cfg["ports"][0]["bind"] = bind
    [finding] = run_t1(cfg, "prod")
    assert finding.field == "ports[0].bind"
    assert "IP address or host name" in finding.message


def test_every_offending_port_is_reported_with_its_index() -> None:
    patch = """\
ports:
  - {name: a, port: 1, bind: 127.0.0.1, exposure: internal}
  - {name: b, port: 2, bind: "::", exposure: internal}
  - {name: c, port: 3, bind: 10.0.0.1, exposure: public}
  - {name: d, port: 4, bind: "*"}
"""
    findings = run_t1(config_with(patch), "prod")
    assert [f.field for f in findings] == ["ports[1].bind", "ports[2].exposure", "ports[3].bind"]
    assert findings[0].message == (
        'prod forbids binding to all interfaces (found "::"); expected a specific internal '
        "address such as 127.0.0.1"
    )


def test_port_without_bind_is_treated_as_all_interfaces() -> None:
    [finding] = run_t1(config_with("ports: [{name: a, port: 1}]"), "prod")
    assert finding.field == "ports[0].bind"
    assert "all interfaces" in finding.message


def test_no_ports_is_fine() -> None:
    cfg = good_config()
    del cfg["ports"]
    assert run_t1(cfg, "prod") == []


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("1.2", (1, 2)),
        ("1.3", (1, 3)),
        ("TLSv1.3", (1, 3)),
        ("tls1.0", (1, 0)),
        (" 1.1 ", (1, 1)),
        ("1.10", None),
        ("1.4", None),
        ("2", None),
        ("1", None),
        ("high", None),
        ("", None),
        ("SSLv3", None),
    ],
)
def test_tls_version_parsing(text: str, parsed: tuple[int, int] | None) -> None:
    assert parse_tls_version(text) == parsed


@pytest.mark.parametrize(("version", "ok"), [("1.3", True), ("TLSv1.2", True), ("1.0", False)])
def test_tls_min_version_default_floor(version: str, ok: bool) -> None:
    findings = run_t1(config_with(f'tls: {{enabled: true, min_version: "{version}"}}'), "prod")
    assert (findings == []) is ok


def test_tls_min_version_param_raises_the_floor() -> None:
    bundle = load_bundle(
        b"apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n"
        b"  - {id: tls13, check: tls-min-version, severity: medium, description: x,\n"
        b"     actions: {prod: enforce, staging: warn}, params: {min: '1.3'}}\n",
        source="b.yaml",
    )
    ctx = PolicyContext(scenario="T1", env="prod", config=good_config())
    [finding] = evaluate(bundle, ctx)
    assert finding.message == 'prod requires tls.min_version: "1.3" or higher (found "1.2")'


def test_tls_min_version_is_silent_when_tls_is_off() -> None:
    findings = run_t1(config_with('tls: {enabled: false, min_version: "1.0"}'), "prod")
    assert [f.policy for f in findings] == ["tls-required"]


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("dbPassword", True),
        ("PASSWD", True),
        ("api_key", True),
        ("apiKey", True),
        ("apikey", True),
        ("private-key", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("client_secret", True),
        ("auth.token", True),
        ("secret", True),
        ("credentials", True),
        ("secrets_ref", False),
        ("password_file", False),
        ("token_ttl", False),
        ("max_tokens", False),
        ("key", False),
        ("keyboard", False),
        ("name", False),
        ("", False),
    ],
)
def test_secret_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_references_need_an_allowed_scheme_and_a_path() -> None:
    schemes = ("vault://", "k8s-secret://")
    assert is_reference("vault://kv/app", schemes)
    assert is_reference("k8s-secret://ns/name#key", schemes)
    assert not is_reference("vault://", schemes)
    assert not is_reference("vault://kv/app with space", schemes)
    assert not is_reference("https://vault/kv", schemes)
    assert not is_reference("kv/app", schemes)


SECRET = "Zq7-unique-literal-secret-9xW"

INLINE_CASES = [
    (f"db: {{password: {SECRET}}}", "db.password"),
    (f"db: {{password: vault://kv/db, user: app, extra: {{apiKey: {SECRET}}}}}", "db.extra.apiKey"),
    (f"clients: [{{name: a, token: {SECRET}}}]", "clients[0].token"),
    ("db: {password: 123456}", "db.password"),
    (f'tls_files: {{key: "-----BEGIN EC PRIVATE KEY-----\\n{SECRET}\\n"}}', "tls_files.key"),
    ("upstream: AKIAIOSFODNN7EXAMPLE", "upstream"),
    (f"dsn: postgres://app:{SECRET}@db.internal/app", "dsn"),
    (f'"odd key": {{"secret": {SECRET}}}', '["odd key"].secret'),
]


@pytest.mark.parametrize(("patch", "field"), INLINE_CASES)
def test_inline_secrets_are_found_and_never_echoed(patch: str, field: str) -> None:
    findings = [f for f in run_t1(config_with(patch), "prod") if f.policy == "no-inline-secrets"]
    assert [f.field for f in findings] == [field]
    assert SECRET not in findings[0].message
    assert "AKIAIOSFODNN7EXAMPLE" not in findings[0].message
    assert "found a literal " in findings[0].message


@pytest.mark.parametrize(
    "patch",
    [
        "db: {password: vault://kv/db}",
        "db: {password: ''}",
        "db: {password_file: /run/pw}",
        "db: {password: null}",
        "feature: {token_ttl: 30}",
        "api: {secret: {ref: 'sops://x'}}",
        "notes: 'rotate the api key monthly'",
    ],
)
def test_non_secrets_pass(patch: str) -> None:
    assert run_t1(config_with(patch), "prod") == []


def test_literal_secrets_ref_is_not_echoed() -> None:
    findings = run_t1(config_with(f"secrets_ref: {SECRET}"), "prod")
    assert [f.policy for f in findings] == ["secrets-ref-required"]
    assert SECRET not in findings[0].message
    assert findings[0].message.endswith(f"(found a literal value ({len(SECRET)} chars))")


def test_secrets_ref_with_a_disallowed_scheme_names_only_the_scheme() -> None:
    [finding] = run_t1(config_with(f"secrets_ref: https://vault/{SECRET}"), "prod")
    assert "found scheme https://" in finding.message
    assert SECRET not in finding.message


@pytest.mark.parametrize(
    "ref",
    [
        "vault://kv/a",
        "k8s-secret://ns/s",
        "aws-sm://arn",
        "gcp-sm://p",
        "azure-kv://v/s",
        "sops://file.enc.yaml",
    ],
)
def test_every_default_scheme_is_accepted(ref: str) -> None:
    assert run_t1(config_with(f"secrets_ref: {ref}"), "prod") == []


@pytest.mark.parametrize(
    ("caps", "prod_fields", "staging_fields"),
    [
        ("[NET_BIND_SERVICE]", ["security.capabilities[0]"], []),
        ("[cap_net_bind_service]", ["security.capabilities[0]"], []),
        (
            "[NET_BIND_SERVICE, NET_RAW]",
            ["security.capabilities[0]", "security.capabilities[1]"],
            ["security.capabilities[1]"],
        ),
        ("[ALL]", ["security.capabilities[0]"], ["security.capabilities[0]"]),
        ("{add: [NET_BIND_SERVICE], drop: [ALL]}", ["security.capabilities.add[0]"], []),
        ("{drop: [ALL]}", [], []),
        ("[]", [], []),
    ],
)
def test_added_capabilities(caps: str, prod_fields: list[str], staging_fields: list[str]) -> None:
    cfg = config_with(f"security: {{capabilities: {caps}}}")
    assert [f.field for f in run_t1(cfg, "prod")] == prod_fields
    assert [f.field for f in run_t1(cfg, "staging")] == staging_fields


def test_uid_zero_and_root_flag_are_both_reported() -> None:
    findings = run_t1(config_with("security: {run_as_root: true, run_as_user: 0}"), "prod")
    assert [f.field for f in findings] == ["security.run_as_root", "security.run_as_user"]


def test_non_root_uid_passes() -> None:
    assert run_t1(config_with("security: {run_as_root: false, run_as_user: 1000}"), "prod") == []


def test_signature_present_satisfies_the_policy_whatever_its_verification() -> None:
    # verification failures are the pipeline's own always-blocking signature-invalid reason
    ctx = PolicyContext(
        scenario="T1",
        env="prod",
        config=good_config(),
        signature=SignatureFacts(
            present=True, verified=False, trust_configured=True, error="bad signature"
        ),
    )
    from webhook.policies import default_bundle

    assert evaluate(default_bundle(), ctx) == []


def test_require_always_demands_a_signature_without_trust_store() -> None:
    bundle = load_bundle(
        b"apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n"
        b"  - {id: signed, check: signature-required, severity: critical, description: x,\n"
        b"     actions: {prod: enforce, staging: enforce}, params: {require_always: true}}\n",
        source="b.yaml",
    )
    ctx = PolicyContext(scenario="T2", env="staging", config=None)
    [finding] = evaluate(bundle, ctx)
    assert finding.field == "signature"
    assert "require_always is set" in finding.message


@pytest.mark.parametrize(
    ("algorithm", "weak"),
    [
        ("sha256", False),
        ("sha384", False),
        ("sha512", False),
        ("SHA256", False),
        ("md5", True),
        ("sha1", True),
        ("unprefixed", True),
        ("crc32", True),
        ("", True),
    ],
)
def test_weak_hash_algorithms(algorithm: str, weak: bool) -> None:
    findings = run_t2({"expected_snapshot_hash": algorithm}, "prod")
    assert bool(findings) is weak


def test_messages_stay_on_one_line_whatever_the_input() -> None:
    """Found values are JSON-quoted, so a crafted value cannot forge extra report/log lines."""
    cfg = {
        **good_config(),
        "tls": {"enabled": "no\nFAKE: ok"},
        "ports": [{"name": "a", "bind": "0.0.0.0\n[ok]", "exposure": "pub\nlic"}],
        "security": {"capabilities": ["NET_ADMIN\nx"], "run_as_user": "0\n"},
        "odd\nkey": {"password": "x"},
        "secrets_ref": "vault\n://x",
    }
    for env in ("prod", "staging"):
        findings = run_t1(cfg, env)
        assert len(findings) == 9
        for finding in findings:
            assert "\n" not in finding.message, finding
            assert "\n" not in finding.field, finding
