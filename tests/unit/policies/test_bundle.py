"""Loading a policy bundle: each malformed bundle is a ConfigError naming the source and field."""

from __future__ import annotations

import hashlib

import pytest

from webhook.errors import ConfigError
from webhook.policies import MAX_BUNDLE_BYTES, load_bundle

SOURCE = "policies/custom.yaml"

VALID = """\
apiVersion: migrationgate.io/policy/v1
kind: PolicyBundle
policies:
  - id: tls-required
    check: tls-required
    severity: high
    description: TLS on.
    actions: {prod: enforce, staging: warn}
  - id: no-added-caps
    check: no-added-caps
    severity: medium
    description: No caps.
    actions: {prod: enforce, staging: enforce}
    params: {allow: []}
    env_params:
      staging: {allow: [NET_BIND_SERVICE]}
  - id: signature-required
    check: signature-required
    severity: critical
    description: Signed.
    actions: {prod: enforce, staging: "off"}
    params: {require_always: true, threshold: 2}
"""


def load(text: str) -> None:
    load_bundle(text.encode(), source=SOURCE)


def error_for(text: str | bytes) -> ConfigError:
    data = text.encode() if isinstance(text, str) else text
    with pytest.raises(ConfigError) as info:
        load_bundle(data, source=SOURCE)
    assert info.value.file == SOURCE
    return info.value


def test_valid_bundle_loads_with_params_resolved() -> None:
    bundle = load_bundle(VALID.encode(), source=SOURCE)
    assert tuple(p.id for p in bundle.policies) == (
        "tls-required",
        "no-added-caps",
        "signature-required",
    )
    assert bundle.source == SOURCE
    caps = bundle.get("no-added-caps")
    assert caps is not None
    assert caps.params_for("prod") == {"allow": ()}
    assert caps.params_for("staging") == {"allow": ("NET_BIND_SERVICE",)}
    assert caps.params_for("Prod") == {"allow": ()}  # not exactly "staging": prod
    sig = bundle.get("signature-required")
    assert sig is not None
    assert sig.params == {"require_always": True, "threshold": 2}
    assert sig.action_for("staging") == "off"
    assert sig.action_for("dev") == "enforce"


def test_digest_is_sha256_of_the_exact_bytes() -> None:
    data = VALID.encode()
    assert load_bundle(data, source=SOURCE).digest == "sha256:" + hashlib.sha256(data).hexdigest()
    # a comment changes no policy but does change the bytes, hence the digest
    other = load_bundle(b"# reviewed\n" + data, source=SOURCE)
    assert other.digest != load_bundle(data, source=SOURCE).digest
    assert other.policies == load_bundle(data, source=SOURCE).policies


def replace(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


#: (case id, bundle text, field the error must name, message fragment)
FIELD_ERRORS = [
    ("unknown top field", VALID + "metadata: {name: x}\n", "metadata", "unknown field"),
    (
        "missing apiVersion",
        replace("apiVersion: migrationgate.io/policy/v1\n", ""),
        "apiVersion",
        "missing",
    ),
    ("wrong apiVersion", replace("policy/v1", "policy/v2"), "apiVersion", "must be"),
    ("wrong kind", replace("kind: PolicyBundle", "kind: Policy"), "kind", "must be PolicyBundle"),
    ("duplicate top key", VALID + "kind: PolicyBundle\n", "kind", "duplicate key"),
    (
        "policies not a list",
        VALID.split("policies:", maxsplit=1)[0] + "policies: {a: 1}\n",
        "policies",
        "must be a list",
    ),
    (
        "empty policies",
        VALID.split("policies:", maxsplit=1)[0] + "policies: []\n",
        "policies",
        "at least one policy",
    ),
    (
        "policy not a mapping",
        replace("  - id: tls-required\n", "  - tls-required\n  - id: x\n"),
        "policies[0]",
        "must be a mapping",
    ),
    (
        "unknown policy field",
        replace("severity: high", "sevrity: high"),
        "policies[0].sevrity",
        "unknown field",
    ),
    (
        "missing id",
        replace("  - id: tls-required\n    check", "  - check"),
        "policies[0].id",
        "missing",
    ),
    ("bad id", replace("id: no-added-caps", "id: No Added Caps"), "policies[1].id", "lowercase"),
    (
        "reserved id",
        replace("id: no-added-caps", "id: internal-error"),
        "policies[1].id",
        "reason id",
    ),
    (
        "duplicate id",
        replace("id: no-added-caps", "id: tls-required"),
        "policies[1].id",
        "duplicate policy id",
    ),
    (
        "unknown check",
        replace("check: no-added-caps", "check: no-added-capz"),
        "policies[1].check",
        "unknown check 'no-added-capz'",
    ),
    (
        "bad severity",
        replace("severity: medium", "severity: urgent"),
        "policies[1].severity",
        "must be one of",
    ),
    (
        "critical not integrity",
        replace("severity: high", "severity: critical"),
        "policies[0].severity",
        "reserved for integrity",
    ),
    (
        "missing description",
        replace("    description: TLS on.\n", ""),
        "policies[0].description",
        "missing",
    ),
    (
        "blank description",
        replace("description: TLS on.", 'description: "  "'),
        "policies[0].description",
        "non-empty string",
    ),
    (
        "missing staging action",
        replace("{prod: enforce, staging: warn}", "{prod: enforce}"),
        "policies[0].actions.staging",
        "missing",
    ),
    (
        "missing prod action",
        replace("{prod: enforce, staging: warn}", "{staging: warn}"),
        "policies[0].actions.prod",
        "missing",
    ),
    (
        "unknown env",
        replace("{prod: enforce, staging: warn}", '{prod: enforce, staging: warn, dev: "off"}'),
        "policies[0].actions.dev",
        "unknown field",
    ),
    (
        "unquoted off",
        replace("{prod: enforce, staging: warn}", "{prod: enforce, staging: off}"),
        "policies[0].actions.staging",
        "'off' reads as bool False here but as the string 'off' in YAML 1.2; quote it",
    ),
    (
        "bad action",
        replace("{prod: enforce, staging: warn}", "{prod: block, staging: warn}"),
        "policies[0].actions.prod",
        "must be one of enforce, warn, audit, off",
    ),
    (
        "duplicate action key",
        replace("{prod: enforce, staging: warn}", "{prod: enforce, staging: warn, prod: off}"),
        "policies[0].actions.prod",
        "duplicate key",
    ),
    (
        "actions not a mapping",
        replace("{prod: enforce, staging: warn}", "enforce"),
        "policies[0].actions",
        "must be a mapping",
    ),
    (
        "unknown param",
        replace("params: {allow: []}", "params: {allow: [], deny: []}"),
        "policies[1].params.deny",
        "unknown param",
    ),
    (
        "param wrong type",
        replace("params: {allow: []}", "params: {allow: NET_RAW}"),
        "policies[1].params.allow",
        "list of strings",
    ),
    (
        "param item pattern",
        replace("params: {allow: []}", "params: {allow: [net raw]}"),
        "policies[1].params.allow[0]",
        "must match",
    ),
    (
        "int param is a bool",
        replace("threshold: 2", "threshold: true"),
        "policies[2].params.threshold",
        "whole number",
    ),
    (
        "int param below minimum",
        replace("threshold: 2", "threshold: 0"),
        "policies[2].params.threshold",
        ">= 1",
    ),
    (
        "params not a mapping",
        replace("params: {allow: []}", "params: [allow]"),
        "policies[1].params",
        "must be a mapping",
    ),
    (
        "env_params unknown env",
        replace("      staging: {allow", "      dev: {allow"),
        "policies[1].env_params.dev",
        "unknown field",
    ),
    (
        "env_params bad item",
        replace("staging: {allow: [NET_BIND_SERVICE]}", "staging: {allow: [7]}"),
        "policies[1].env_params.staging.allow[0]",
        "must be a string",
    ),
    (
        "env_params not per env",
        replace("threshold: 2}", "threshold: 2}\n    env_params: {prod: {threshold: 3}}"),
        "policies[2].env_params.prod.threshold",
        "cannot differ per env",
    ),
]


@pytest.mark.parametrize(
    ("text", "field", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in FIELD_ERRORS]
)
def test_bundle_error_names_the_field(text: str, field: str, fragment: str) -> None:
    err = error_for(text)
    assert err.field == field
    assert fragment in err.message
    assert err.diagnostics().startswith(f"{SOURCE}: {field}: ")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"# only a comment\n", "empty", id="comment only"),
        pytest.param(b"policies: [\n", "invalid YAML", id="syntax error"),
        pytest.param(b"a: 1\n---\nb: 2\n", "invalid YAML", id="two documents"),
        pytest.param(b"a: \xff\xfe\n", "not valid UTF-8", id="invalid utf-8"),
        pytest.param(
            b"a: !!python/object/apply:os.system [id]\n",
            "unsupported YAML tag",
            id="python tag on a sequence",
        ),
        pytest.param(
            b"a: !!python/name:os.system ''\n", "unsupported YAML tag", id="python tag scalar"
        ),
        pytest.param(b"a: &x [1]\nb: *x\n", "more than 0 YAML alias references", id="alias"),
        pytest.param(b"1: x\n", "expected a string (quote it)", id="non-string key"),
        pytest.param(b"? [a]\n: x\n", "expected a string (quote it)", id="complex key"),
        pytest.param(b"a: !!set {x: null}\n", "unsupported YAML tag", id="set tag"),
        pytest.param(b"- 1\n", "must be a mapping", id="top-level list"),
        pytest.param(b"x" * (MAX_BUNDLE_BYTES + 1), "limit", id="oversized"),
    ],
)
def test_unreadable_bundle_is_a_config_error(data: bytes, fragment: str) -> None:
    err = error_for(data)
    assert fragment in err.message


def test_alias_bomb_is_rejected_without_expanding() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    err = error_for("\n".join(lines) + "\n")
    assert "more than 0 YAML alias references" in err.message


def test_deep_nesting_is_rejected() -> None:
    text = "policies: " + "[" * 40 + "]" * 40 + "\n"
    assert "nesting deeper" in error_for(text).message


def test_empty_scheme_list_is_rejected() -> None:
    text = replace(
        "  - id: signature-required",
        "  - id: secrets-ref-required\n    check: secrets-ref-required\n    severity: high\n"
        "    description: x\n    actions: {prod: enforce, staging: enforce}\n"
        "    params: {schemes: []}\n  - id: signature-required",
    )
    err = error_for(text)
    assert err.field == "policies[2].params.schemes"
    assert "at least 1" in err.message


def test_summary_is_plain_json() -> None:
    import json

    bundle = load_bundle(VALID.encode(), source=SOURCE)
    caps = bundle.get("no-added-caps")
    assert caps is not None
    assert json.loads(json.dumps(caps.summary())) == {
        "id": "no-added-caps",
        "check": "no-added-caps",
        "severity": "medium",
        "description": "No caps.",
        "actions": {"prod": "enforce", "staging": "enforce"},
        "params": {"prod": {"allow": []}, "staging": {"allow": ["NET_BIND_SERVICE"]}},
        "scenarios": ["T1"],
    }
