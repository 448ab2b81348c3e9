"""The CRDs: names, printer columns, and a schema that lets every example reach the gate.

The gate, not the OpenAPI schema, judges the contract (presence, enums, hash comparison, hash
strength, signatures), so that every refusal carries a policy id and is audited. Here: every
example object, good or bad, must pass the schema; and the schema must still refuse wrong
types, malformed digests and oversized text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.e2e import objects

from . import render
from .conftest import missing

EXAMPLES = render.REPO / "examples"


def _crds() -> dict[str, dict[str, Any]]:
    docs = [yaml.safe_load(p.read_text()) for p in sorted(render.CRDS_DIR.glob("*.yaml"))]
    return {d["spec"]["names"]["kind"]: d for d in docs}


def _schema(kind: str) -> dict[str, Any]:
    (version,) = _crds()[kind]["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def _errors(obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(_schema(obj["kind"]))
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]


def _examples() -> list[objects.Example]:
    return objects.discover(EXAMPLES)


def test_crd_names_and_columns() -> None:
    crds = _crds()
    assert set(crds) == {"MigrationRequest", "ReplicationRequest"}
    short = {"MigrationRequest": ["mr", "migreq"], "ReplicationRequest": ["rr", "replreq"]}
    columns = {
        "MigrationRequest": [".spec.appId", ".spec.env", ".spec.version"],
        "ReplicationRequest": [".spec.sourceDb", ".spec.targetDb", ".spec.syncMode"],
    }
    for kind, crd in crds.items():
        spec = crd["spec"]
        assert spec["group"] == "migrationgate.io"
        assert spec["scope"] == "Namespaced"
        assert spec["names"]["shortNames"] == short[kind]
        assert spec["names"]["categories"] == ["migrationgate"]
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
        cols = version["additionalPrinterColumns"]
        shown = [c["jsonPath"] for c in cols if c.get("priority", 0) == 0]
        assert shown == [*columns[kind], ".metadata.creationTimestamp"]


def test_every_example_passes_the_schema() -> None:
    examples = _examples()
    if not examples:
        missing("examples", f"no example folders under {EXAMPLES}")
    failures = {}
    for example in examples:
        obj = objects.crd_object(example, "apps", Path("/snapshots"))
        errors = _errors(obj)
        if errors:
            failures[example.name] = errors
    assert not failures, f"the schema would answer before the gate: {failures}"


GOOD_SPEC = {
    "appId": "payments",
    "env": "prod",
    "version": "4.2.0",
    "configSha256": "a" * 64,
    "config": "app_id: payments\n",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("configSha256", "A" * 64),  # uppercase: not a well-formed digest
        ("configSha256", "abc"),
        ("configSha256", "sha1:" + "a" * 40),  # a digest of the wrong algorithm
        ("configSha256", "sha256:" + "A" * 64),
        ("appId", "Payments_App"),  # not a DNS label
        ("config", 42),  # wrong type
        ("config", "x" * (1024 * 1024 + 1)),  # over 1 MiB
        ("signature", "not-an-envelope"),
    ],
)
def test_schema_refuses_malformed_data(field: str, value: Any) -> None:
    obj = {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "MigrationRequest",
        "metadata": {"name": "x"},
        "spec": {**GOOD_SPEC, field: value},
    }
    assert _errors(obj)


@pytest.mark.parametrize("digest", ["a" * 64, "sha256:" + "a" * 64])
def test_config_digest_in_both_accepted_forms(digest: str) -> None:
    """One digest rule across the doors: the CRD admits what the gate's parser accepts."""
    obj = {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "MigrationRequest",
        "metadata": {"name": "x"},
        "spec": {**GOOD_SPEC, "configSha256": digest},
    }
    assert not _errors(obj)


@pytest.mark.parametrize(
    "digest", ["md5:0123abcd", "sha1:" + "0" * 40, "0" * 32, "sha256:" + "f" * 64]
)
def test_weak_hashes_reach_the_gate(digest: str) -> None:
    obj = {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "ReplicationRequest",
        "metadata": {"name": "x"},
        "spec": {"sourceDb": "a", "targetDb": "b", "expectedSnapshotHash": digest},
    }
    assert not _errors(obj)
