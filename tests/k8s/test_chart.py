"""The Helm chart: lints strictly, renders in every TLS mode, renders what the README promises.

Each assertion reads the rendered objects (real `helm template` output), not the template text.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from . import render
from .conftest import one, only

BAD_VALUES = {
    "replicas as a word": "replicaCount: three\n",
    "fail-open webhook": "webhook:\n  failurePolicy: Ignore\n",
    "misspelt top-level key": "replicas: 3\n",
    "clear-text operator token": (
        "operatorTokens:\n  tokens:\n    - {role: operator, sha256: hunter2, name: ci}\n"
    ),
    "unknown token role": (
        "operatorTokens:\n  tokens:\n    - {role: admin, sha256: " + "a" * 64 + ", name: ci}\n"
    ),
    "trusted key the trust store would ignore": (
        'trustedKeys:\n  signer: "-----BEGIN PUBLIC KEY-----\\nAA==\\n-----END PUBLIC KEY-----"\n'
    ),
    "timeout over the apiserver maximum": "webhook:\n  timeoutSeconds: 31\n",
    "unsafe trust as a string": "unsafeAllowEmptyTrust: 'yes'\n",
    "env label that is no label key": "webhook:\n  env:\n    label: 'not a label'\n",
    "token scoped to an unknown env": (
        "operatorTokens:\n  tokens:\n    - {role: operator, sha256: "
        + "a" * 64
        + ", name: ci, envs: [qa]}\n"
    ),
}


def test_helm_lint_strict(helm_bin: Path) -> None:
    trust = [f"--set-file={f}" for f in render.TEST_TRUST]
    out = render.helm(helm_bin, "lint", "--strict", str(render.CHART), *trust)
    assert "1 chart(s) linted, 0 chart(s) failed" in out


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_values_schema_rejects(helm_bin: Path, tmp_path: Path, name: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(BAD_VALUES[name])
    with pytest.raises(render.RenderError, match="values don't meet the specifications"):
        render.template(helm_bin, values_files=(values,))


def test_values_schema_accepts_a_full_example(helm_bin: Path, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "trustedKeys": {"ci-signer.pem": "-----BEGIN PUBLIC KEY-----\nAA==\n"},
                "operatorTokens": {
                    "tokens": [
                        {"role": "viewer", "sha256": "b" * 64, "name": "grafana"},
                        {"role": "operator", "sha256": "d" * 64, "name": "ci", "envs": ["staging"]},
                    ]
                },
                "webhook": {"extraMatchConditions": [{"name": "x", "expression": "true"}]},
                "image": {"digest": "sha256:" + "c" * 64},
            }
        )
    )
    docs = render.documents(render.template(helm_bin, values_files=(values,)))
    image = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "migration-gate@sha256:" + "c" * 64
    secrets = {d["metadata"]["name"]: d for d in only(docs, "Secret")}
    assert secrets["migration-gate-trusted-keys"]["stringData"]["ci-signer.pem"].startswith(
        "-----BEGIN PUBLIC KEY-----"
    )
    tokens = secrets["migration-gate-operator-tokens"]["stringData"]["tokens"]
    assert f"viewer:{'b' * 64}:grafana" in tokens.splitlines()
    assert f"operator:{'d' * 64}:ci:staging" in tokens.splitlines()  # a scoped token


def test_every_value_is_documented() -> None:
    """Each key in values.yaml has a comment right above it, or lies under a documented key."""
    lines = (render.CHART / "values.yaml").read_text().splitlines()
    keys = [
        (i, len(m.group(1)))
        for i, line in enumerate(lines)
        if (m := re.match(r"^(\s*)[A-Za-z][\w.-]*:", line))
    ]

    def commented(i: int) -> bool:
        return i > 0 and lines[i - 1].strip().startswith("#")

    documented: dict[int, bool] = {}
    stack: list[tuple[int, int]] = []  # (indent, line) of the open ancestor keys
    for i, indent in keys:
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent_ok = bool(stack) and documented[stack[-1][1]]
        documented[i] = commented(i) or parent_ok
        stack.append((indent, i))
    missing = [f"values.yaml:{i + 1}: {lines[i].strip()}" for i, ok in documented.items() if not ok]
    # a map of documented children (image:, server:, ...) needs no comment of its own
    missing = [m for m in missing if not _all_children_documented(lines, keys, documented, m)]
    assert not missing, "\n".join(missing)


def _all_children_documented(
    lines: list[str], keys: list[tuple[int, int]], documented: dict[int, bool], entry: str
) -> bool:
    line_no = int(entry.split(":")[1]) - 1
    indent = len(lines[line_no]) - len(lines[line_no].lstrip())
    children = []
    for i, ind in keys:
        if i <= line_no:
            continue
        if ind <= indent:
            break
        children.append(i)
    return bool(children) and all(documented[c] or commented(lines, c) for c in children)


def commented(lines: list[str], i: int) -> bool:
    return i > 0 and lines[i - 1].strip().startswith("#")


def test_default_render_objects(default_render: list[dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in default_render)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "PrometheusRule",
            "Secret",
            "Secret",
            "Secret",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
            "ValidatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]
    )
    # no Role/ClusterRole: the gate calls no Kubernetes API
    assert not [d for d in default_render if d["kind"].endswith(("Role", "RoleBinding"))]


def test_monitoring_needs_the_api(helm_bin: Path) -> None:
    docs = render.documents(render.template(helm_bin))
    assert not only(docs, "ServiceMonitor") and not only(docs, "PrometheusRule")


def test_deployment_is_hardened(default_render: list[dict[str, Any]]) -> None:
    dep = one(default_render, "Deployment")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert spec["replicas"] == 1  # SQLite by default: one pod (3 with audit.backend=postgresql)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsUser"] == 10001
    assert {t["topologyKey"] for t in pod["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    assert container["resources"]["limits"]["memory"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"admission": 8443, "api": 8080, "metrics": 9090}
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "metrics"}
    args = container["args"]
    assert args[0] == "serve"
    for flag in (
        "--admission-port=8443",
        "--api-port=8080",
        "--metrics-port=9090",
        "--cert=/tls/tls.crt",
        "--key=/tls/tls.key",
        "--trust-dir=/trust",
        "--policy=/policy/policy.yaml",
        "--audit-db=/data/audit.db",
        "--token-file=/tokens/tokens",
    ):
        assert flag in args
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    writable = {p for p, m in mounts.items() if not m.get("readOnly")}
    assert writable == {"/tmp", "/data", "/spool"}  # the upload spool apart from the audit store
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"] and "emptyDir" in volumes["data"]
    assert "emptyDir" in volumes["spool"]


def test_pdb_service_networkpolicy(default_render: list[dict[str, Any]]) -> None:
    pdb = one(default_render, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    svc = one(default_render, "Service")
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
    assert ports == {
        "admission": (443, "admission"),
        "api": (8080, "api"),
        "metrics": (9090, "metrics"),
    }
    netpol = one(default_render, "NetworkPolicy")
    assert netpol["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert netpol["spec"]["egress"] == []
    rules = {r["ports"][0]["port"]: r for r in netpol["spec"]["ingress"]}
    assert "from" not in rules["admission"]  # the apiserver's address cannot be selected
    assert rules["api"]["from"] and rules["metrics"]["from"]


ENV_LABEL = "migrationgate.io/env"
PATHS = {"": "/admission/v1/validate", "staging.": "/admission/v1/validate/staging"}


def test_webhook_configuration(default_render: list[dict[str, Any]]) -> None:
    vwc = one(default_render, "ValidatingWebhookConfiguration")
    hooks = {w["name"]: w for w in vwc["webhooks"]}
    assert list(hooks) == [
        "requests.migrationgate.io",
        "configmaps.migrationgate.io",
        "staging.requests.migrationgate.io",
        "staging.configmaps.migrationgate.io",
    ]
    for name, hook in hooks.items():
        prefix = "staging." if name.startswith("staging.") else ""
        assert hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "NoneOnDryRun"
        assert hook["timeoutSeconds"] == 10
        assert hook["admissionReviewVersions"] == ["v1"]
        excluded, env = hook["namespaceSelector"]["matchExpressions"]
        assert excluded["operator"] == "NotIn"
        assert set(excluded["values"]) == {"kube-system", "kube-node-lease", "gate-ns"}
        # complementary: exactly `staging` goes to the staging door, everything else to prod
        want = "In" if prefix else "NotIn"
        assert env == {"key": ENV_LABEL, "operator": want, "values": ["staging"]}
        for rule in hook["rules"]:
            assert rule["operations"] == ["CREATE", "UPDATE"]  # DELETE is never intercepted
        assert hook["clientConfig"]["service"]["path"] == PATHS[prefix]
        base = name.removeprefix(prefix)
        twin = hooks[("" if prefix else "staging.") + base]
        assert {k: v for k, v in hook.items() if k not in ("name", "clientConfig",
                "namespaceSelector")} == {k: v for k, v in twin.items() if k not in (
                "name", "clientConfig", "namespaceSelector")}  # fmt: skip
    for prefix in PATHS:
        crs = hooks[prefix + "requests.migrationgate.io"]
        assert crs["rules"][0]["resources"] == ["migrationrequests", "replicationrequests"]
        assert [c["name"] for c in crs["matchConditions"]] == ["spec-changed"]
        cms = hooks[prefix + "configmaps.migrationgate.io"]
        assert cms["objectSelector"] == {
            "matchExpressions": [{"key": "migrationgate.io/scenario", "operator": "Exists"}]
        }


def test_without_the_staging_entry_prod_selects_every_namespace(helm_bin: Path) -> None:
    docs = render.documents(render.template(helm_bin, sets=("webhook.env.staging=false",)))
    hooks = one(docs, "ValidatingWebhookConfiguration")["webhooks"]
    assert [h["name"] for h in hooks] == [
        "requests.migrationgate.io",
        "configmaps.migrationgate.io",
    ]
    for hook in hooks:
        (excluded,) = hook["namespaceSelector"]["matchExpressions"]  # no env expression
        assert excluded["key"] == "kubernetes.io/metadata.name"
        assert hook["clientConfig"]["service"]["path"] == "/admission/v1/validate"


@pytest.mark.parametrize(
    "url", ["https://gate.example:8443", "https://gate.example:8443/",
            "https://gate.example:8443/admission/v1/validate"],
)  # fmt: skip
def test_url_mode_appends_each_entry_path(helm_bin: Path, url: str) -> None:
    docs = render.documents(render.template(helm_bin, sets=(f"webhook.url={url}",)))
    urls = {
        h["name"]: h["clientConfig"]["url"]
        for h in one(docs, "ValidatingWebhookConfiguration")["webhooks"]
    }
    assert urls == {
        "requests.migrationgate.io": "https://gate.example:8443/admission/v1/validate",
        "configmaps.migrationgate.io": "https://gate.example:8443/admission/v1/validate",
        "staging.requests.migrationgate.io": "https://gate.example:8443/admission/v1/validate/staging",
        "staging.configmaps.migrationgate.io": "https://gate.example:8443/admission/v1/validate/staging",
    }


def test_refuses_to_render_without_a_trusted_key(helm_bin: Path) -> None:
    """Empty trust is no trust: the chart's defaults alone do not render (issue 11 item 1)."""
    with pytest.raises(render.RenderError, match="trustedKeys is empty: with no trusted key "
                       "every prod decision BLOCKs") as err:  # fmt: skip
        render.template(helm_bin, set_files=())
    assert "unsafeAllowEmptyTrust=true" in str(err.value)
    assert "trustedKeys.ci-signer\\.pem=ci-signer.pub" in str(err.value)
    # the installer's own Secret: rendered, mounted, no key of ours
    docs = render.documents(
        render.template(helm_bin, set_files=(), sets=("trustedKeysExistingSecret=my-keys",))
    )
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert {v["name"]: v for v in pod["volumes"]}["trust"]["secret"]["secretName"] == "my-keys"
    assert "--allow-empty-trust=true" not in pod["containers"][0]["args"]
    # the explicitly unsafe value renders, and tells the gate to be ready without keys
    docs = render.documents(
        render.template(helm_bin, set_files=(), sets=("unsafeAllowEmptyTrust=true",))
    )
    args = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--allow-empty-trust=true" in args


def test_match_conditions_only_where_supported(helm_bin: Path) -> None:
    """matchConditions are GA in 1.30: an older apiserver would reject the field."""
    args = ("template", "x", str(render.CHART), "--kube-version=1.29.0",
            *(f"--set-file={f}" for f in render.TEST_TRUST))  # fmt: skip
    docs = render.documents(render.helm(helm_bin, *args))
    for hook in one(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        assert "matchConditions" not in hook


def test_self_signed_ca_matches_served_cert(default_render: list[dict[str, Any]]) -> None:
    """caBundle is the CA that signed the Secret's certificate, valid for the Service's DNS name."""
    tls = next(d for d in only(default_render, "Secret") if d["type"] == "kubernetes.io/tls")
    ca_pem = base64.b64decode(tls["data"]["ca.crt"])
    cert = x509.load_pem_x509_certificate(base64.b64decode(tls["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(ca_pem)
    cert.verify_directly_issued_by(ca)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "migration-gate.gate-ns.svc" in sans.get_values_for_type(x509.DNSName)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    vwc = one(default_render, "ValidatingWebhookConfiguration")
    for hook in vwc["webhooks"]:
        assert base64.b64decode(hook["clientConfig"]["caBundle"]) == ca_pem


def test_cert_manager_mode(cert_manager_render: list[dict[str, Any]]) -> None:
    docs = cert_manager_render
    assert not [d for d in only(docs, "Secret") if d.get("type") == "kubernetes.io/tls"]
    certs = {d["metadata"]["name"]: d for d in only(docs, "Certificate")}
    serving = certs["migration-gate-serving"]["spec"]
    assert serving["secretName"] == "migration-gate-tls"
    assert "migration-gate.migration-gate.svc" in serving["dnsNames"]
    assert certs["migration-gate-ca"]["spec"]["isCA"] is True
    assert {d["metadata"]["name"] for d in only(docs, "Issuer")} == {
        "migration-gate-selfsigned",
        "migration-gate-ca",
    }
    vwc = one(docs, "ValidatingWebhookConfiguration")
    annotation = vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    assert annotation == "migration-gate/migration-gate-serving"
    for hook in vwc["webhooks"]:
        assert "caBundle" not in hook["clientConfig"]


def test_existing_secret_mode_requires_ca_bundle(helm_bin: Path) -> None:
    with pytest.raises(render.RenderError, match=r"tls\.caBundle"):
        render.template(helm_bin, sets=("tls.existingSecret=my-tls",))
    docs = render.documents(
        render.template(helm_bin, sets=("tls.existingSecret=my-tls", "tls.caBundle=Q0E="))
    )
    dep = one(docs, "Deployment")
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["tls"]["secret"]["secretName"] == "my-tls"
    for hook in one(docs, "ValidatingWebhookConfiguration")["webhooks"]:
        assert hook["clientConfig"]["caBundle"] == "Q0E="


def test_policy_configmap_is_the_packaged_default(default_render: list[dict[str, Any]]) -> None:
    cm = one(default_render, "ConfigMap")
    assert cm["data"]["policy.yaml"] == render.POLICY_CHART_COPY.read_text()


def test_chart_policy_copy_matches_the_package_default() -> None:
    """files/policy.yaml is a copy (helm cannot read outside the chart): it must not drift."""
    assert render.POLICY_CHART_COPY.read_bytes() == render.POLICY_SOURCE.read_bytes(), (
        "charts/migration-gate/files/policy.yaml drifted from webhook/policies/default.yaml: "
        "run `make manifests`"
    )


def test_policy_override(helm_bin: Path, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"policy": {"bundle": "apiVersion: x\n"}}))
    docs = render.documents(render.template(helm_bin, values_files=(values,)))
    assert one(docs, "ConfigMap")["data"]["policy.yaml"] == "apiVersion: x\n"


def test_break_glass_role_is_scoped_to_this_webhook(
    cert_manager_render: list[dict[str, Any]],
) -> None:
    role = one(cert_manager_render, "ClusterRole")
    (rule,) = role["rules"]
    assert rule["resources"] == ["validatingwebhookconfigurations"]
    assert rule["resourceNames"] == ["migration-gate"]
    assert "create" not in rule["verbs"] and "update" not in rule["verbs"]
    binding = one(cert_manager_render, "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == "sre-oncall"


def test_env_label_guard(helm_bin: Path) -> None:
    """The staging label chooses the weaker door: a policy names who may set it, and goes with
    the staging entries; it cannot be rendered guarding nobody."""
    docs = render.documents(render.template(helm_bin))
    (policy,) = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]
    (binding,) = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules == [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                      "resources": ["namespaces"]}]  # fmt: skip
    allowed = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}["allowed"]
    assert '["system:masters"]' in allowed
    users = render.documents(
        render.template(
            helm_bin,
            sets=(
                "webhook.env.labelGuard.users={system:serviceaccount:flux-system:kustomize-controller}",
            ),
        )
    )
    (policy,) = [d for d in users if d["kind"] == "ValidatingAdmissionPolicy"]
    allowed = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}["allowed"]
    assert '["system:serviceaccount:flux-system:kustomize-controller"]' in allowed
    for sets in (("webhook.env.staging=false",), ("webhook.env.labelGuard.enabled=false",)):
        kinds = {d["kind"] for d in render.documents(render.template(helm_bin, sets=sets))}
        assert "ValidatingAdmissionPolicy" not in kinds, sets
    with pytest.raises(render.RenderError, match="labelGuard needs at least one group or user"):
        render.template(helm_bin, sets=("webhook.env.labelGuard.groups=null",))
