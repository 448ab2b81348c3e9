"""The namespace, not the object, sets the target env at admission (issue 11 item 2).

kube-apiserver sends no namespace labels, so the webhook configuration has one entry per env,
each selecting namespaces by `migrationgate.io/env` and calling its own path. Proven through a
real apiserver: the staging example (it claims `env: staging`, is unsigned) is admitted in a
namespace labelled staging, and the very same object is denied in an unlabelled namespace and in
one whose label is anything but exactly `staging`; a prod object is denied in a staging
namespace. The audit records say which door decided.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .asserts import assert_admitted, assert_denied
from .conftest import Cluster, Gate, labelled_namespace, wait_for_webhook
from .objects import Example, config_map, migration_request
from .picks import good_migration, renamed


def _staging_example(examples: list[Example]) -> Example:
    for ex in examples:
        if ex.expected.env == "staging" and ex.expected.decision == "ALLOW":
            return ex
    pytest.fail("no ALLOW example for the staging door (examples/t1_staging_warn)")


@pytest.fixture(scope="module")
def typo_namespace(cluster: Cluster, gate: Gate) -> Iterator[str]:
    """Labelled `Staging`: not exactly `staging`, so it is prod."""
    name = labelled_namespace(cluster, "mg-e2e-typo", "Staging")
    wait_for_webhook(cluster.kubectl, name)
    yield name
    cluster.kubectl.run("delete", "namespace", name, "--wait=false")


@pytest.mark.parametrize("form", ["crd", "configmap"])
def test_the_namespace_chooses_the_door(
    cluster: Cluster,
    gate: Gate,
    namespace: str,
    staging_namespace: str,
    typo_namespace: str,
    examples: list[Example],
    form: str,
) -> None:
    staging = _staging_example(examples)
    build = migration_request if form == "crd" else config_map
    kubectl = cluster.kubectl
    head = gate.process.audit_head() if gate.process is not None else 0

    admitted = renamed(build(staging, staging_namespace), "door-stg")
    result = kubectl.apply(admitted)
    kind, name = admitted["kind"], admitted["metadata"]["name"]
    assert_admitted(result, kubectl, kind, name, staging_namespace, staging.expected.warnings)

    for ns in (namespace, typo_namespace):  # the same bytes, reviewed as prod
        obj = renamed(build(staging, ns), "door-prod")
        result = kubectl.apply(obj)
        assert_denied(
            result, kubectl, kind, obj["metadata"]["name"], ns,
            ["env-mismatch", "signature-required"],
        )  # fmt: skip
        assert "migration_manifest.json claims env 'staging'" in result.stderr, result

    prod_obj = renamed(build(good_migration(examples), staging_namespace), "door-prod-in-stg")
    result = kubectl.apply(prod_obj)
    assert_denied(
        result, kubectl, kind, prod_obj["metadata"]["name"], staging_namespace, ["env-mismatch"]
    )
    assert "through the staging door" in result.stderr, result

    if gate.process is not None:  # the audit trail names the door's env, never the object's
        records = gate.process.audit_since(head)
        by_verdict = {(r["decision"], r["env"]) for r in records if r["source"] == "admission"}
        assert ("ALLOW", "staging") in by_verdict, records
        assert ("BLOCK", "prod") in by_verdict and ("BLOCK", "staging") in by_verdict, records
