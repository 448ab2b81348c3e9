"""B9's native peer: a ValidatingAdmissionPolicy with what CEL can express of the gate's T1 rules.

kube-apiserver's CEL environment (k8s.io/apiserver v0.35 `pkg/cel/environment/base.go`) has
strings, regex, lists, sets, URLs, IP/CIDR, quantity, semver and format libraries: no hash
function, no base64 or JSON/YAML decoding, no signature verification. So a policy on the
MigrationRequest's fields can check presence, shapes, the env against its namespace's label and
that prod carries a signature envelope; it cannot check what the gate's decision rests on
(`CANNOT`). The text checks on `spec.config` below are substring/regex tests of raw YAML: they
catch the plain spelling only (flow style, quoting, anchors or a comment defeat them), so they
are a best effort, not the gate's policies.
"""

from __future__ import annotations

from typing import Any

NAME = "bench-migration-rules"
ENV_LABEL = "migrationgate.io/env"
PAYLOAD_TYPE = "application/vnd.migrationgate.migration-manifest+json"

#: (CEL expression, message): each one the gate also enforces (its policy id in the message)
RULES: tuple[tuple[str, str], ...] = (
    ("has(object.spec.appId) && has(object.spec.env) && has(object.spec.version) && "
     "has(object.spec.configSha256) && has(object.spec.config)",
     "input-missing: appId, env, version, configSha256 and config are required"),
    ("object.spec.env in ['prod', 'staging']", "input-invalid: env must be prod or staging"),
    ("object.spec.env == ((has(namespaceObject.metadata.labels) && "
     f"'{ENV_LABEL}' in namespaceObject.metadata.labels && "
     f"namespaceObject.metadata.labels['{ENV_LABEL}'] == 'staging') ? 'staging' : 'prod')",
     "env-mismatch: the object claims another env than its namespace's door"),
    ("object.spec.configSha256.matches('^[0-9a-f]{64}$')",
     "input-invalid: configSha256 must be 64 lowercase hex"),
    ("size(object.spec.config) > 0 && size(object.spec.config) <= 1048576",
     "input-invalid: config must be 1 byte to 1 MiB"),
    ("object.spec.env != 'prod' || (has(object.spec.signature) && "
     "has(object.spec.signature.signatures) && size(object.spec.signature.signatures) > 0)",
     "signature-required: prod needs a signature envelope"),
    (f"!has(object.spec.signature) || object.spec.signature.payloadType == '{PAYLOAD_TYPE}'",
     "signature-invalid: wrong payloadType"),
    ("!object.spec.config.matches('(?m)^\\\\s*privileged:\\\\s*true\\\\s*$')",
     "no-privileged (text match only): privileged: true"),
    ("!object.spec.config.matches('(?m)^\\\\s*run_as_root:\\\\s*true\\\\s*$')",
     "no-root (text match only): run_as_root: true"),
    ("!object.spec.config.matches('(?m)bind:\\\\s*[\"\\']?0\\\\.0\\\\.0\\\\.0')",
     "no-public-bind (text match only): bind 0.0.0.0"),
    ("!object.spec.config.matches('(?m)^\\\\s*enabled:\\\\s*false\\\\s*$')",
     "tls-required (text match only): enabled: false"),
    ("!object.spec.config.matches('(?m)(password|secret|token):\\\\s*[\"\\']?[A-Za-z0-9+/]"
     "{16,}')", "no-inline-secrets (text match only): a long literal after a secret key"),
)

#: what the gate checks and a ValidatingAdmissionPolicy cannot, and why
CANNOT: tuple[str, ...] = (
    "the config's SHA-256 against configSha256 (no hash function in the apiserver's CEL)",
    "the DSSE signature (no base64 decoding, no Ed25519 or any signature verification), so "
    "also not that the signed manifest says what the spec says, nor the signers' threshold",
    "the YAML inside spec.config: CEL has no YAML parser, so every config policy (ports, TLS, "
    "privileges, secrets, app_id and env inside the config) is at best a regex over raw text",
    "YAML 1.1/1.2 ambiguity, duplicate or case-twin keys, tags and alias bombs in the config",
    "live reload of a signed policy bundle and trust store, the durable hash-chained audit "
    "record of every decision, and the same decision for the CLI and the API",
)


def policy() -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": NAME},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": ["migrationgate.io"], "apiVersions": ["v1alpha1"],
                "operations": ["CREATE", "UPDATE"], "resources": ["migrationrequests"]}]},
            "validations": [{"expression": e, "message": m} for e, m in RULES],
        },
    }


def binding() -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": NAME},
        "spec": {"policyName": NAME, "validationActions": ["Deny"]},
    }
