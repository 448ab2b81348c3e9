"""The ValidatingWebhookConfiguration for a gate on loopback (url + caBundle instead of a Service).

Same rules as the chart's (README, Kubernetes): CREATE/UPDATE of the two CRDs and of ConfigMaps
labelled `migrationgate.io/scenario`, failurePolicy Fail, sideEffects NoneOnDryRun, 10 s timeout,
kube-system / kube-node-lease / the gate's own namespace excluded, DELETE never intercepted.
And the chart's one entry per target env: namespaces labelled `migrationgate.io/env: staging`
go to `/admission/v1/validate/staging`, every other namespace to `/admission/v1/validate` (prod).
"""

from __future__ import annotations

import base64
from typing import Any

GROUP = "migrationgate.io"
VERSION = "v1alpha1"
WEBHOOK_NAME = "migration-gate"
SCENARIO_LABEL = "migrationgate.io/scenario"
ENV_LABEL = "migrationgate.io/env"
GATE_NAMESPACE = "migration-gate"
EXCLUDED_NAMESPACES = ("kube-system", "kube-node-lease", GATE_NAMESPACE)
ADMISSION_PATH = "/admission/v1/validate"
#: env -> (webhook name prefix, path, operator of the env-label expression)
ENTRIES = {
    "prod": ("", ADMISSION_PATH, "NotIn"),
    "staging": ("staging.", ADMISSION_PATH + "/staging", "In"),
}


def _namespace_selector(env_operator: str) -> dict[str, Any]:
    # kubernetes.io/metadata.name is set on every namespace by the apiserver itself (1.21+).
    return {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": list(EXCLUDED_NAMESPACES),
            },
            {"key": ENV_LABEL, "operator": env_operator, "values": ["staging"]},
        ]
    }


def _webhook(
    name: str, url: str, ca_bundle: bytes, rule: dict[str, Any], env_operator: str
) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_bundle).decode("ascii")},
        "rules": [{"operations": ["CREATE", "UPDATE"], "scope": "Namespaced", **rule}],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "sideEffects": "NoneOnDryRun",
        "timeoutSeconds": 10,
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": _namespace_selector(env_operator),
    }


def webhook_configuration(url_base: str, ca_bundle: bytes) -> dict[str, Any]:
    """VWC with both webhooks per env at `url_base` + the env's path, trusting `ca_bundle`."""
    hooks = []
    for prefix, path, operator in ENTRIES.values():
        url = url_base.rstrip("/") + path
        crds = _webhook(
            f"{prefix}requests.{GROUP}",
            url,
            ca_bundle,
            {
                "apiGroups": [GROUP],
                "apiVersions": [VERSION],
                "resources": ["migrationrequests", "replicationrequests"],
            },
            operator,
        )
        configmaps = _webhook(
            f"{prefix}configmaps.{GROUP}",
            url,
            ca_bundle,
            {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]},
            operator,
        )
        configmaps["objectSelector"] = {
            "matchExpressions": [
                {"key": SCENARIO_LABEL, "operator": "In", "values": ["migration", "replication"]}
            ]
        }
        hooks += [crds, configmaps]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_NAME, "labels": {"app.kubernetes.io/part-of": "e2e"}},
        "webhooks": hooks,
    }
