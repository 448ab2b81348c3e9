"""The ValidatingWebhookConfiguration for a gate on loopback (url + caBundle instead of a Service).

Same rules as the chart's (DESIGN section 5): CREATE/UPDATE of the two CRDs and of ConfigMaps
labelled `migrationgate.io/scenario`, failurePolicy Fail, sideEffects NoneOnDryRun, 10 s timeout,
kube-system / kube-node-lease / the gate's own namespace excluded, DELETE never intercepted.
"""

from __future__ import annotations

import base64
from typing import Any

GROUP = "migrationgate.io"
VERSION = "v1alpha1"
WEBHOOK_NAME = "migration-gate"
SCENARIO_LABEL = "migrationgate.io/scenario"
GATE_NAMESPACE = "migration-gate"
EXCLUDED_NAMESPACES = ("kube-system", "kube-node-lease", GATE_NAMESPACE)
ADMISSION_PATH = "/admission/v1/validate"


def _namespace_selector() -> dict[str, Any]:
    # kubernetes.io/metadata.name is set on every namespace by the apiserver itself (1.21+).
    return {
        "matchExpressions": [
            {
                "key": "kubernetes.io/metadata.name",
                "operator": "NotIn",
                "values": list(EXCLUDED_NAMESPACES),
            }
        ]
    }


def _webhook(name: str, url: str, ca_bundle: bytes, rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_bundle).decode("ascii")},
        "rules": [{"operations": ["CREATE", "UPDATE"], "scope": "Namespaced", **rule}],
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "sideEffects": "NoneOnDryRun",
        "timeoutSeconds": 10,
        "admissionReviewVersions": ["v1"],
        "namespaceSelector": _namespace_selector(),
    }


def webhook_configuration(url_base: str, ca_bundle: bytes) -> dict[str, Any]:
    """VWC pointing both webhooks at `url_base` + /admission/v1/validate, trusting `ca_bundle`."""
    url = url_base.rstrip("/") + ADMISSION_PATH
    crds = _webhook(
        f"requests.{GROUP}",
        url,
        ca_bundle,
        {
            "apiGroups": [GROUP],
            "apiVersions": [VERSION],
            "resources": ["migrationrequests", "replicationrequests"],
        },
    )
    configmaps = _webhook(
        f"configmaps.{GROUP}",
        url,
        ca_bundle,
        {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]},
    )
    configmaps["objectSelector"] = {
        "matchExpressions": [
            {"key": SCENARIO_LABEL, "operator": "In", "values": ["migration", "replication"]}
        ]
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_NAME, "labels": {"app.kubernetes.io/part-of": "e2e"}},
        "webhooks": [crds, configmaps],
    }
