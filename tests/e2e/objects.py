"""examples/<name>/ -> the Kubernetes objects a user would apply, and what admission must say.

Each example folder holds the artifacts under the spec's file names and `expected.json`
(`{"decision": ..., "policies": [...], "warnings": [...]}`). It becomes:
- a MigrationRequest / ReplicationRequest (`migrationgate.io/v1alpha1`): manifest fields as
  camelCase spec fields, the exact app-config.yaml text, the parsed DSSE envelope;
- a ConfigMap labelled `migrationgate.io/scenario` whose data keys are the files' exact text.

Admission sees what the object carries plus, when the object names a snapshot by a file:// uri
under the gate's snapshot root (spec.snapshot.uri, or the ConfigMap key `snapshot.uri`), that
snapshot and the wal_files/ beside it: then it sees everything the CLI sees. Without a hashable
snapshot (e.g. a kind cluster whose gate cannot read these files) a defect that lives only in
snapshot or WAL bytes is out of admission's reach by design: the attestation's digests match the
manifest, and the bytes are verified by the CLI/API doors before a restore.
`admission_expectation` says whether the example's expected decision applies or why not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

GROUP_VERSION = "migrationgate.io/v1alpha1"
SCENARIO_LABEL = "migrationgate.io/scenario"
MAX_FILE = 1024 * 1024  # examples are small; a huge file here is a mistake, not a test input

MIGRATION_MANIFEST = "migration_manifest.json"
APP_CONFIG = "app-config.yaml"
MIGRATION_SIGNATURE = "migration_manifest.dsse.json"
REPLICATION_MANIFEST = "replication_manifest.yaml"
SNAPSHOT = "snapshot.tar.gz"
SNAPSHOT_ATTESTATION = "snapshot.dsse.json"
CM_ATTESTATION = "attestation.dsse.json"

#: reasons that can only come from reading the snapshot's bytes
SNAPSHOT_POLICIES = frozenset(
    {
        "snapshot-hash-mismatch",
        "archive-invalid",
        "archive-path-traversal",
        "archive-link-escape",
        "archive-special-member",
        "archive-bomb",
        "archive-checksum-mismatch",
    }
)
#: reasons a CRD's OpenAPI schema may raise first (before any webhook runs)
SCHEMA_POLICIES = frozenset({"input-invalid", "input-missing"})

Form = Literal["crd", "configmap"]
Scenario = Literal["migration", "replication"]


@dataclass(frozen=True, slots=True)
class Expected:
    decision: Literal["ALLOW", "BLOCK"]
    policies: tuple[str, ...]
    warnings: tuple[str, ...]
    #: the door the verdict is for (expected.json `env`, absent: prod); at admission, a namespace
    #: labelled with that env
    env: Literal["prod", "staging"] = "prod"


@dataclass(frozen=True, slots=True)
class Example:
    """One example folder, read once."""

    name: str
    path: Path
    scenario: Scenario
    expected: Expected

    @property
    def k8s_name(self) -> str:
        """DNS-1123 object name derived from the folder name (t1_bad_x -> t1-bad-x)."""
        name = re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-")
        return name[:63].rstrip("-")

    def read(self, filename: str) -> bytes:
        path = self.path / filename
        size = path.stat().st_size
        if size > MAX_FILE:
            raise ValueError(f"{path}: {size} bytes is over the e2e limit of {MAX_FILE}")
        return path.read_bytes()

    def text(self, filename: str) -> str:
        return self.read(filename).decode("utf-8")

    def has(self, filename: str) -> bool:
        return (self.path / filename).is_file()


def load_example(path: Path) -> Example:
    """Reads expected.json and tells the scenario from the manifest file present."""
    raw = json.loads((path / "expected.json").read_text())
    decision = raw.get("decision")
    if decision not in ("ALLOW", "BLOCK"):
        raise ValueError(f"{path}/expected.json: decision must be ALLOW or BLOCK ({decision!r})")
    env = raw.get("env", "prod")
    if env not in ("prod", "staging"):
        raise ValueError(f"{path}/expected.json: env must be prod or staging ({env!r})")
    expected = Expected(
        decision=decision,
        policies=tuple(raw.get("policies", [])),
        warnings=tuple(raw.get("warnings", [])),
        env=env,
    )
    if (path / MIGRATION_MANIFEST).is_file():
        scenario: Scenario = "migration"
    elif (path / REPLICATION_MANIFEST).is_file():
        scenario = "replication"
    else:
        raise ValueError(f"{path}: neither {MIGRATION_MANIFEST} nor {REPLICATION_MANIFEST}")
    return Example(name=path.name, path=path, scenario=scenario, expected=expected)


def discover(examples_dir: Path) -> list[Example]:
    """Every examples/<name>/ with an expected.json, sorted by name."""
    if not examples_dir.is_dir():
        return []
    return [
        load_example(p)
        for p in sorted(examples_dir.iterdir())
        if p.is_dir() and (p / "expected.json").is_file()
    ]


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _json(example: Example, filename: str) -> Any:
    return json.loads(example.read(filename))


def _metadata(example: Example, namespace: str, scenario_label: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": example.k8s_name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/part-of": "migration-gate-e2e"},
    }
    if scenario_label is not None:
        meta["labels"][SCENARIO_LABEL] = scenario_label
    return meta


def migration_request(example: Example, namespace: str) -> dict[str, Any]:
    """MigrationRequest: the manifest's fields (as found, even if invalid) + exact config text."""
    manifest = _json(example, MIGRATION_MANIFEST)
    spec: dict[str, Any] = {}
    if isinstance(manifest, dict):
        spec.update({_camel(k): v for k, v in manifest.items()})
    if example.has(APP_CONFIG):
        spec["config"] = example.text(APP_CONFIG)
    if example.has(MIGRATION_SIGNATURE):
        spec["signature"] = _json(example, MIGRATION_SIGNATURE)
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "MigrationRequest",
        "metadata": _metadata(example, namespace, None),
        "spec": spec,
    }


def replication_request(
    example: Example, namespace: str, snapshot_uri: str | None = None
) -> dict[str, Any]:
    """ReplicationRequest: manifest fields + attestation; `snapshot_uri` lets the gate hash it."""
    manifest = yaml.safe_load(example.text(REPLICATION_MANIFEST))
    spec: dict[str, Any] = {}
    if isinstance(manifest, dict):
        spec.update({_camel(str(k)): v for k, v in manifest.items()})
    if example.has(SNAPSHOT_ATTESTATION):
        spec["attestation"] = _json(example, SNAPSHOT_ATTESTATION)
    if snapshot_uri is not None:
        spec["snapshot"] = {"uri": snapshot_uri}
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ReplicationRequest",
        "metadata": _metadata(example, namespace, None),
        "spec": spec,
    }


def config_map(
    example: Example, namespace: str, snapshot_root: Path | None = None
) -> dict[str, Any]:
    """Labelled ConfigMap whose data values are the exact file texts (hashes stay valid).

    With a snapshot root, a replication ConfigMap also names its snapshot (`snapshot.uri`, the
    same file:// contract as a ReplicationRequest's spec.snapshot.uri) so the gate hashes it.
    """
    if example.scenario == "migration":
        files = {k: k for k in (MIGRATION_MANIFEST, APP_CONFIG, MIGRATION_SIGNATURE)}
    else:
        files = {REPLICATION_MANIFEST: REPLICATION_MANIFEST, SNAPSHOT_ATTESTATION: CM_ATTESTATION}
    data = {key: example.text(name) for name, key in files.items() if example.has(name)}
    uri = _snapshot_uri(example, snapshot_root)
    if uri is not None:
        data["snapshot.uri"] = uri
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(example, namespace, example.scenario),
        "data": data,
    }


def _snapshot_uri(example: Example, snapshot_root: Path | None) -> str | None:
    if example.scenario != "replication" or snapshot_root is None or not example.has(SNAPSHOT):
        return None
    return (example.path / SNAPSHOT).resolve().as_uri()


def crd_object(example: Example, namespace: str, snapshot_root: Path | None) -> dict[str, Any]:
    if example.scenario == "migration":
        return migration_request(example, namespace)
    return replication_request(example, namespace, _snapshot_uri(example, snapshot_root))


def _wal_bytes_differ(example: Example) -> bool:
    """True if a WAL file's bytes disagree with the manifest listing (admission cannot see it)."""
    wal_dir = example.path / "wal_files"
    if not wal_dir.is_dir():
        return False
    manifest = yaml.safe_load(example.text(REPLICATION_MANIFEST))
    listed: Mapping[str, Any] = {}
    if isinstance(manifest, dict) and isinstance(manifest.get("wal_files"), list):
        listed = {
            str(w.get("name")): w.get("sha256")
            for w in manifest["wal_files"]
            if isinstance(w, dict)
        }
    for path in sorted(wal_dir.iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if listed.get(path.name) != digest:
            return True
    return False


def admission_expectation(example: Example, snapshot_hashed: bool) -> tuple[Expected | None, str]:
    """(what admission must decide, '') or (None, why this form cannot decide this example).

    With the snapshot hashed at admission (a file:// uri under the gate's snapshot root, in the
    CRD or the ConfigMap form), the gate also reads the wal_files/ beside it: it sees everything
    the CLI sees. Otherwise (e.g. a kind cluster) integrity rests on the attestation alone.
    """
    if example.scenario == "replication" and not snapshot_hashed:
        if _wal_bytes_differ(example):
            return None, "the defect is in WAL bytes, which no admission object carries"
        if SNAPSHOT_POLICIES.intersection(example.expected.policies):
            return None, "the defect is in the snapshot's bytes, which this object does not carry"
    return example.expected, ""
