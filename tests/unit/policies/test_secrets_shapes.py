"""no-inline-secrets finds secrets in every shape they hide in (issue 11 item 3).

Each case is a config patch, the field the finding must name, and (for the value cases) the
secret text that must not appear in any finding's message.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.unit.policies.conftest import config_with, good_config, run_t1
from webhook.policies.checks.secrets import is_secret_key

LIT = "Zq7uniqueLiteral9xW"


def _inline(cfg: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.field, f.message) for f in run_t1(cfg, "prod") if f.policy == "no-inline-secrets"]


def _fields(patch: str) -> list[str]:
    return [f for f, _ in _inline(config_with(patch))]


@pytest.mark.parametrize(
    "key",
    [
        "dbpassword",
        "DBPassword",
        "DBPASSWORD",
        "PGPASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "APIKey",
        "apikey",
        "awsSecretAccessKey",
        "AWSSecretAccessKey",
        "aws_secret_access_key",
        "client_secret",
        "clientSecret",
        "authToken",
        "AUTHTOKEN",
        "password2",
        "keystorepass",
        "accountKey",
        "hmac_key",
        "api_tokens",
        "secrets",
    ],
)
def test_one_word_and_acronym_key_names_are_secret(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["password_file", "token_ttl", "max_tokens", "bypass", "compass", "keyboard", "secretName",
     "secrets_ref", "password_ref", "tokenizer", "passenger", "key", "name"],
)  # fmt: skip
def test_non_secret_key_names(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    ("patch", "fields"),
    [
        pytest.param("db: {password: [a, b]}", ["db.password[0]", "db.password[1]"], id="list"),
        pytest.param("db: {password: {value: x}}", ["db.password.value"], id="mapping"),
        pytest.param("db: {password: 123456}", ["db.password"], id="int"),
        pytest.param("db: {password: 1.5}", ["db.password"], id="float"),
        pytest.param("db: {token: true}", ["db.token"], id="bool"),
        pytest.param("db: {password: [[x]]}", ["db.password[0][0]"], id="nested list"),
        pytest.param("db: {password: {ref: vault://kv/x, v: 2}}", ["db.password.v"], id="mixed"),
    ],
)
def test_any_non_reference_value_under_a_secret_key_is_a_finding(
    patch: str, fields: list[str]
) -> None:
    assert _fields(patch) == fields


@pytest.mark.parametrize(
    "patch",
    [
        "db: {password: {ref: vault://kv/db}}",
        "db: {password: [vault://kv/a, sops://b.enc]}",
        "db: {password: {}}",
        "db: {password: ~}",
    ],
)
def test_references_in_any_shape_pass(patch: str) -> None:
    assert _fields(patch) == []


def test_binary_and_timestamps_under_secret_keys_are_findings_when_not_refused() -> None:
    """The parser refuses them (test_strict_json_compat); a check handed one still flags it."""
    import datetime

    cfg = {**good_config(), "db": {"password": b"x", "token": datetime.date(2024, 1, 1)}}
    assert [f for f, _ in _inline(cfg)] == ["db.password", "db.token"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        pytest.param(f"dsn: postgres://app:{LIT}@db.internal/app", "dsn", id="postgres"),
        pytest.param(f"dsn: mongodb+srv://app:{LIT}@c0.example.net/db", "dsn", id="mongodb+srv"),
        pytest.param(f"dsn: 'redis://:{LIT}@cache:6379/0'", "dsn", id="redis empty user"),
        pytest.param(
            f"dsn: jdbc:mysql://db:3306/app?user=app&password={LIT}", "dsn", id="jdbc query"
        ),
        pytest.param(
            f"dsn: 'jdbc:sqlserver://db;user=app;password={LIT};encrypt=true'", "dsn", id="jdbc ;"
        ),
        pytest.param(f"dsn: 'Server=db;User ID=app;Password={LIT};'", "dsn", id="ado.net"),
        pytest.param(f"hook: https://api.example/x?token={LIT}&a=1", "hook", id="?token="),
        pytest.param(f"blob: https://a.blob.core.example/c?sv=1&sig={LIT}", "blob", id="&sig="),
        pytest.param(f"cb: https://x.example/cb?a=1&password={LIT}", "cb", id="&password="),
        pytest.param(f"args: ['--db-password={LIT}']", "args[0]", id="--flag="),
        pytest.param(f"environment: ['DB_PASSWORD={LIT}']", "environment[0]", id="NAME=value"),
        pytest.param(f"props: 'spring.datasource.password={LIT}'", "props", id="properties"),
        pytest.param(f'embedded: "db:\\n  password: {LIT}\\n"', "embedded", id="yaml in str"),
        pytest.param(f"auth: 'Bearer {LIT}abcdef'", "auth", id="bearer"),
    ],
)
def test_secrets_inside_strings_are_found(patch: str, field: str) -> None:
    found = _inline(config_with(patch))
    assert [f for f, _ in found] == [field]
    assert all(LIT not in m for _, m in found)


@pytest.mark.parametrize(
    "patch",
    [
        "dsn: postgres://app@db.internal/app",
        "url: http://host:8080/path?page=2&sort=name",
        "dsn: 'jdbc:mysql://db:3306/app?user=app&password=vault://kv/db'",
        "env_list: ['DB_PASSWORD=vault://kv/db', 'LOG_LEVEL=info']",
        "notes: 'set PASSWORD=... in the vault, never here'",
        "notes: 'rotate the api key monthly'",
        "doc: 'basic auth is off'",
    ],
)
def test_strings_without_secrets_pass(patch: str) -> None:
    assert _fields(patch) == []


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        pytest.param({"name": "DB_PASSWORD", "value": LIT}, "env[0].value", id="k8s env"),
        pytest.param({"Name": "ApiKey", "Value": LIT}, "env[0].Value", id="capitalised"),
        pytest.param({"key": "stripeSecret", "value": 42}, "env[0].value", id="int value"),
    ],
)
def test_environment_entries_with_secret_names(entry: dict[str, Any], field: str) -> None:
    found = _inline({**good_config(), "env": [entry]})
    assert [f for f, _ in found] == [field]
    assert all(LIT not in m for _, m in found)


def test_environment_entries_with_references_or_plain_names_pass() -> None:
    cfg = {
        **good_config(),
        "env": [
            {"name": "DB_PASSWORD", "value": "vault://kv/db"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
            {"name": "LOG_LEVEL", "value": "debug"},
        ],
    }
    assert _inline(cfg) == []


def test_a_secret_shaped_mapping_key_is_a_finding() -> None:
    aws = "AKIA" + "Q" * 15 + "Z"
    found = _inline({**good_config(), "keys": {aws: "primary"}})
    assert len(found) == 1
    assert "the key itself looks like an AWS access key id" in found[0][1]


@pytest.mark.parametrize(
    "header",
    [
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
        "-----BEGIN PRIVATE KEY-----",
        "----- BEGIN  EC  PRIVATE  KEY -----",
        "-----begin openssh private key-----",
        "PuTTY-User-Key-File-3: ssh-ed25519",
        "PuTTY-User-Key-File-2: ssh-rsa",
    ],
)
def test_private_key_blocks_in_any_spelling(header: str) -> None:
    cfg = {**good_config(), "tls_files": {"blob": f"{header}\nMIIEv{LIT}\n"}}
    found = _inline(cfg)
    assert [f for f, _ in found] == ["tls_files.blob"]
    assert LIT not in found[0][1]


def test_public_keys_and_certificates_pass() -> None:
    cfg = {
        **good_config(),
        "tls_files": {
            "cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            "pub": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
        },
    }
    assert _inline(cfg) == []


def test_placeholders_are_not_references() -> None:
    """`${VAR}` says nothing about where a value comes from, and would wrap any literal."""
    assert _fields("db: {password: '${DB_PASSWORD}'}") == ["db.password"]


def test_yaml_aliases_do_not_multiply_the_scan() -> None:
    """A long string repeated by aliases is scanned once per object (the memo keys on id)."""
    text = "x" * 300 + f" token={LIT}"
    doc = yaml.safe_load(f"a: &v '{text}'\nb: *v\nc: *v\n")
    assert doc["a"] is doc["b"]
    found = _inline({**good_config(), **doc})
    assert [f for f, _ in found] == ["a", "b", "c"]


def test_find_secrets_reports_where_and_what() -> None:
    from webhook.contracts.secret_shapes import find_secrets

    text = f"x https://u:{LIT}@h/ y"
    [hit] = list(find_secrets(text))
    assert text[hit.start : hit.end] == LIT
    assert hit.what == "a URL with an embedded password"


# ---- keys that hold a secret's reference: password_ref and its kin ----------------------------
# Before: `password_ref: hunter2` (or 12345, true, 1.5) was ALLOWed, re-pinned and signed; a key
# that names where a secret comes from must hold a reference, not the secret.


@pytest.mark.parametrize(
    ("patch", "fields"),
    [
        ("db: {password_ref: hunter2hunter2}", ["db.password_ref"]),
        ("db: {password_ref: x}", ["db.password_ref"]),
        ("db: {password_ref: 12345}", ["db.password_ref"]),
        ("db: {password_ref: true}", ["db.password_ref"]),
        ("db: {dbPasswordRef: 1.5}", ["db.dbPasswordRef"]),
        ("db: {api_key_refs: [vault://kv/a, plain]}", ["db.api_key_refs[1]"]),
        ("db: {password_ref: {value: hunter2}}", ["db.password_ref"]),
        ("nested: {secrets_ref: hunter2}", ["nested.secrets_ref"]),
    ],
)
def test_a_secret_reference_key_must_hold_a_reference(patch: str, fields: list[str]) -> None:
    assert _fields(patch) == fields


@pytest.mark.parametrize(
    "patch",
    [
        "db: {password_ref: vault://kv/db}",
        "db: {password_ref: ~}",
        "db: {password_ref: []}",
        "db: {api_key_refs: [vault://kv/a, sops://b.enc]}",
        "env: [{name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]",
        "db: {config_ref: main, href: 'https://example.com/docs'}",
    ],
)
def test_references_under_a_secret_reference_key_pass(patch: str) -> None:
    assert _fields(patch) == []
