"""manifests/ equals the chart rendered with the documented flags, and every rendered object is
valid for the Kubernetes version of the test control plane (kubernetes-validate, strict mode:
unknown fields are errors, so a misspelt field cannot silently do nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import render

#: API groups whose schemas kubernetes-validate does not ship (CRD-typed objects)
CRD_GROUPS = ("monitoring.coreos.com/", "cert-manager.io/", "migrationgate.io/")


def test_manifests_match_the_chart(helm_bin: Path) -> None:
    stale = []
    for name, text in render.expected_manifests(helm_bin).items():
        path = render.MANIFESTS / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    assert not stale, f"manifests/{', manifests/'.join(stale)} drifted: run `make manifests`"


def test_manifests_hold_no_private_key() -> None:
    for path in sorted(render.MANIFESTS.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert "PRIVATE KEY" not in text and "tls.key:" not in text, path


def _validate(docs: list[dict[str, Any]]) -> list[str]:
    import kubernetes_validate

    version = render.kube_version()
    checked, errors = 0, []
    for doc in docs:
        if doc["apiVersion"].startswith(CRD_GROUPS):
            continue
        name = f"{doc['kind']}/{doc['metadata'].get('name')}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
            checked += 1
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name}: {exc.message}")
    assert checked or errors, "nothing was validated"
    return errors


@pytest.mark.parametrize("mode", ["default", "cert-manager", "manifests"])
def test_rendered_objects_are_valid_kubernetes(
    mode: str,
    default_render: list[dict[str, Any]],
    cert_manager_render: list[dict[str, Any]],
) -> None:
    if mode == "default":
        docs = default_render
    elif mode == "cert-manager":
        docs = cert_manager_render
    else:
        docs = [
            d
            for p in sorted(render.MANIFESTS.glob("*.yaml"))
            for d in render.documents(p.read_text(encoding="utf-8"))
        ]
    assert not _validate(docs)


def test_validation_catches_a_typo(default_render: list[dict[str, Any]]) -> None:
    """The validator is really strict: a misspelt field (replica for replicas) is an error."""
    dep = next(d for d in default_render if d["kind"] == "Deployment")
    broken = {**dep, "spec": {**dep["spec"], "replica": 3}}
    assert _validate([broken])
