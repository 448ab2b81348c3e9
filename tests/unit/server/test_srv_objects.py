"""Kubernetes object -> engine inputs: exact bytes, signed payload binding, snapshot URIs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from webhook.integrity.pinned import PinnedFile
from webhook.pipelines import MigrationInputs, ReplicationInputs
from webhook.server.objects import (
    ObjectError,
    SnapshotPolicy,
    config_map,
    gated_kind,
    migration_request,
    replication_request,
)
from webhook.server.snapshots import open_snapshot

CONFIG = "app_id: payments\nenv: prod\n# exact bytes, comments included\n"
SPEC = {"appId": "payments", "env": "prod", "version": "4.2.0", "configSha256": "a" * 64}


def mr(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "MigrationRequest",
        "metadata": {"name": "m"},
        "spec": {**SPEC, "config": CONFIG, **spec},
    }


def test_gated_kinds() -> None:
    assert gated_kind("migrationgate.io", "v1alpha1", "MigrationRequest", {}) == "MigrationRequest"
    assert (
        gated_kind("migrationgate.io", "v1alpha1", "ReplicationRequest", {}) == "ReplicationRequest"
    )
    labelled = {"metadata": {"labels": {"migrationgate.io/scenario": "migration"}}}
    assert gated_kind("", "v1", "ConfigMap", labelled) == "ConfigMap"
    assert gated_kind("", "v1", "ConfigMap", {"metadata": {}}) is None
    assert gated_kind("apps", "v1", "Deployment", {}) is None


def test_unsigned_migration_request_builds_manifest_from_spec() -> None:
    conv = migration_request(mr())
    assert isinstance(conv.inputs, MigrationInputs)
    assert conv.inputs.config == CONFIG.encode()
    assert json.loads(conv.inputs.manifest or b"") == {
        "app_id": "payments",
        "env": "prod",
        "version": "4.2.0",
        "config_sha256": "a" * 64,
    }
    assert conv.inputs.signature is None and not conv.reasons


def test_missing_spec_field_is_left_for_the_engine() -> None:
    spec = dict(SPEC)
    del spec["version"]
    conv = migration_request({"spec": {**spec, "config": CONFIG}})
    assert "version" not in json.loads(conv.inputs.manifest or b"")


def test_signed_payload_is_used_verbatim_and_must_match_spec() -> None:
    payload = json.dumps(
        {"app_id": "payments", "env": "prod", "version": "4.2.0", "config_sha256": "a" * 64},
        indent=2,
    ).encode()
    env = {
        "payloadType": "application/vnd.migrationgate.manifest+json",
        "payload": base64.b64encode(payload).decode(),
        "signatures": [],
    }
    conv = migration_request(mr(signature=env))
    assert conv.inputs.manifest == payload
    assert json.loads(conv.inputs.signature or b"") == env  # type: ignore[union-attr]
    assert not conv.reasons
    bad = migration_request(mr(signature=env, version="9.9.9"))
    assert [r.policy for r in bad.reasons] == ["signature-invalid"]
    assert bad.reasons[0].field == "spec.signature"
    assert "payload does not match spec" in bad.reasons[0].message
    assert "version" in bad.reasons[0].message
    junk = migration_request(mr(signature={"payload": "%%%"}))
    assert [r.policy for r in junk.reasons] == ["signature-invalid"]


def test_non_string_config_is_an_object_error() -> None:
    with pytest.raises(ObjectError) as err:
        migration_request(mr(config={"a": 1}))
    assert err.value.field == "spec.config"
    with pytest.raises(ObjectError):
        migration_request({"spec": "nope"})


def test_replication_request_and_snapshot_uris(tmp_path: Path) -> None:
    root = tmp_path / "snaps"
    root.mkdir()
    snap = root / "s.tar.gz"
    snap.write_bytes(b"x" * 100)
    outside = tmp_path / "outside.tar.gz"
    outside.write_bytes(b"y")
    policy = SnapshotPolicy(root, 1000)

    def resolve_snapshot_uri(
        uri: str, policy: SnapshotPolicy
    ) -> tuple[PinnedFile | None, str | None]:
        opened = open_snapshot(uri, policy.root, policy.max_bytes)
        return opened.file, opened.why

    pinned, why = resolve_snapshot_uri(snap.as_uri(), policy)
    assert why is None and pinned is not None and pinned.name == str(snap)
    assert resolve_snapshot_uri(outside.as_uri(), policy)[0] is None
    assert resolve_snapshot_uri(f"file://{root}/../outside.tar.gz", policy)[0] is None
    (root / "link.tar.gz").symlink_to(outside)
    assert resolve_snapshot_uri((root / "link.tar.gz").as_uri(), policy)[0] is None
    assert resolve_snapshot_uri("https://example.invalid/s", policy)[0] is None
    assert resolve_snapshot_uri(snap.as_uri(), SnapshotPolicy(root, 10))[0] is None
    assert resolve_snapshot_uri(snap.as_uri(), SnapshotPolicy(None, 1000))[0] is None

    spec = {
        "sourceDb": "a",
        "targetDb": "b",
        "syncMode": "full",
        "expectedSnapshotHash": "sha256:" + "0" * 64,
        "walFiles": [{"name": "000000010000000000000001", "sha256": "1" * 64}],
        "attestation": {"payloadType": "x", "payload": "", "signatures": []},
        "snapshot": {"uri": snap.as_uri()},
    }
    conv = replication_request({"spec": spec}, policy)
    assert isinstance(conv.inputs, ReplicationInputs)
    assert conv.inputs.snapshot is not None and conv.inputs.snapshot.name == str(snap)
    assert conv.inputs.snapshot_required is True  # local snapshot: full verification
    assert conv.inputs.wal_files == {}
    (root / "wal_files").mkdir()
    (root / "wal_files" / "000000010000000000000001").write_bytes(b"w")
    (root / "wal_files" / "000000010000000000000002").symlink_to(outside)
    with_wal = replication_request({"spec": spec}, policy)
    assert list(with_wal.inputs.wal_files) == ["000000010000000000000001"]  # type: ignore[union-attr]
    assert json.loads(conv.inputs.manifest or b"")["wal_files"] == spec["walFiles"]
    far = replication_request({"spec": {**spec, "snapshot": {"uri": outside.as_uri()}}}, policy)
    assert far.inputs.snapshot is None  # type: ignore[union-attr]
    assert far.inputs.snapshot_required is False  # type: ignore[union-attr]
    assert [w.policy for w in far.warnings] == ["snapshot-not-hashed"]


NO_SNAPSHOTS = SnapshotPolicy(None, 0)


def test_config_maps() -> None:
    cm = {
        "metadata": {"labels": {"migrationgate.io/scenario": "migration"}},
        "data": {"migration_manifest.json": "{}", "app-config.yaml": CONFIG},
    }
    conv = config_map(cm, NO_SNAPSHOTS)
    assert conv.scenario == "T1"
    assert conv.inputs.config == CONFIG.encode()  # type: ignore[union-attr]
    assert conv.inputs.signature is None  # type: ignore[union-attr]
    rep = config_map(
        {
            "metadata": {"labels": {"migrationgate.io/scenario": "replication"}},
            "data": {"replication_manifest.yaml": "a: 1\n"},
        },
        NO_SNAPSHOTS,
    )
    assert rep.scenario == "T2"
    assert rep.inputs.attestation is None  # type: ignore[union-attr]
    with pytest.raises(ObjectError):
        config_map({"metadata": {"labels": {"migrationgate.io/scenario": "other"}}}, NO_SNAPSHOTS)
    with pytest.raises(ObjectError):
        config_map(
            {
                "metadata": {"labels": {"migrationgate.io/scenario": "migration"}},
                "data": {"app-config.yaml": 5},
            },
            NO_SNAPSHOTS,
        )


def test_replication_config_map_snapshot_uri(tmp_path: Path) -> None:
    """`snapshot.uri` in a ConfigMap follows the CRD's spec.snapshot.uri contract exactly."""
    snap = tmp_path / "snapshot.tar.gz"
    snap.write_bytes(b"x" * 10)
    (tmp_path / "wal_files").mkdir()
    (tmp_path / "wal_files" / "000000010000000000000001").write_bytes(b"w")
    labels = {"migrationgate.io/scenario": "replication"}
    data = {"replication_manifest.yaml": "a: 1\n", "snapshot.uri": snap.as_uri() + "\n"}
    conv = config_map({"metadata": {"labels": labels}, "data": data}, SnapshotPolicy(tmp_path, 100))
    assert isinstance(conv.inputs, ReplicationInputs)
    assert conv.inputs.snapshot is not None and conv.inputs.snapshot.name == str(snap)
    assert conv.inputs.snapshot_required is True
    assert list(conv.inputs.wal_files) == ["000000010000000000000001"]
    # outside the root (or no root configured): attestation-only, with a warning naming the key
    far = config_map({"metadata": {"labels": labels}, "data": data}, NO_SNAPSHOTS)
    assert far.inputs.snapshot is None  # type: ignore[union-attr]
    assert [(w.policy, w.field) for w in far.warnings] == [
        ("snapshot-not-hashed", "data.snapshot.uri")
    ]
