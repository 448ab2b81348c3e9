"""Kubernetes objects -> engine inputs (MigrationRequest, ReplicationRequest, labelled ConfigMaps).

Pure conversion, no verdicts: whatever is missing or mistyped is passed on so the engine reports
it naming the field. The only checks here are about the object's *shape* (which the engine cannot
see) and the one rule that links the CRD fields to a signed payload: a signed MigrationRequest's
spec must say exactly what the signed manifest says.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from webhook.contracts.decision import Reason, Scenario
from webhook.integrity.pinned import BeneathFile, PinnedFile
from webhook.pipelines import MigrationInputs, ReplicationInputs
from webhook.pipelines.inputs import (
    ATTESTATION_FILE,
    CONFIG_FILE,
    MANIFEST_FILE,
    MANIFEST_SIGNATURE_FILE,
    REPLICATION_FILE,
)
from webhook.server.snapshots import open_snapshot
from webhook.server.snapshots import sibling_wal_files as snapshot_wal_files

GROUP = "migrationgate.io"
SCENARIO_LABEL = "migrationgate.io/scenario"
CM_ATTESTATION = "attestation.dsse.json"
CM_SNAPSHOT_URI = "snapshot.uri"
MAX_WAL_FILES = 1000

#: spec field -> manifest field, in manifest order
MIGRATION_FIELDS = (
    ("appId", "app_id"),
    ("env", "env"),
    ("version", "version"),
    ("configSha256", "config_sha256"),
)
REPLICATION_FIELDS = (
    ("sourceDb", "source_db"),
    ("env", "env"),
    ("targetDb", "target_db"),
    ("expectedSnapshotHash", "expected_snapshot_hash"),
    ("syncMode", "sync_mode"),
    ("walFiles", "wal_files"),
)

Kind = Literal["MigrationRequest", "ReplicationRequest", "ConfigMap"]


class ObjectError(Exception):
    """A gated object whose shape is unusable: denied without reaching the engine."""

    def __init__(self, scenario: Scenario, field: str, message: str) -> None:
        super().__init__(message)
        self.scenario = scenario
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Converted:
    """Engine inputs plus door-level reasons (blocking) and notes (warnings) to merge in."""

    scenario: Scenario
    inputs: MigrationInputs | ReplicationInputs
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[Reason, ...] = ()
    snapshot: PinnedFile | None = None
    subject: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """Which `file://` snapshot URIs admission may hash: under `root`, at most `max_bytes`."""

    root: Path | None
    max_bytes: int


def gated_kind(group: str, version: str, kind: str, obj: Mapping[str, Any] | None) -> Kind | None:
    """The gated kind of an object, or None if the gate lets it through untouched."""
    if group == GROUP and kind in ("MigrationRequest", "ReplicationRequest"):
        return kind  # type: ignore[return-value]
    if group == "" and version == "v1" and kind == "ConfigMap":
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if isinstance(labels, dict) and SCENARIO_LABEL in labels:
            return "ConfigMap"
    return None


def _spec(obj: Mapping[str, Any], scenario: Scenario) -> Mapping[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise ObjectError(scenario, "spec", "spec must be an object")
    return spec


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _signature_reason(message: str) -> Reason:
    return Reason(
        policy="signature-invalid",
        severity="critical",
        field="spec.signature",
        message=message,
        file=MANIFEST_SIGNATURE_FILE,
    )


def migration_request(obj: Mapping[str, Any]) -> Converted:
    spec = _spec(obj, "T1")
    present = {m: spec[s] for s, m in MIGRATION_FIELDS if s in spec}
    config_raw = spec.get("config")
    if config_raw is not None and not isinstance(config_raw, str):
        raise ObjectError(
            "T1", "spec.config", "spec.config must be a string (the app-config.yaml text)"
        )
    config = config_raw.encode("utf-8") if isinstance(config_raw, str) else None
    signature = spec.get("signature")
    reasons: list[Reason] = []
    manifest = _json_bytes(present)
    sig_bytes: bytes | None = None
    if signature is not None:
        sig_bytes = _json_bytes(signature)
        payload = signature.get("payload") if isinstance(signature, dict) else None
        try:
            if not isinstance(payload, str):
                raise ValueError("spec.signature.payload must be a base64 string")
            decoded = base64.b64decode(payload, validate=True)
            signed = json.loads(decoded)
            if not isinstance(signed, dict):
                raise ValueError("the signed payload is not a JSON object")
        except (ValueError, binascii.Error) as exc:
            reasons.append(_signature_reason(f"payload unreadable: {exc}"))
        else:
            manifest = decoded  # the exact signed bytes, never a re-serialisation
            differing = [s for s, m in MIGRATION_FIELDS if spec.get(s) != signed.get(m)]
            if differing:
                reasons.append(
                    _signature_reason(
                        "payload does not match spec (differs in: " + ", ".join(differing) + ")"
                    )
                )
    subject = {m: v for m, v in present.items() if isinstance(v, str) and m != "config_sha256"}
    return Converted(
        scenario="T1",
        inputs=MigrationInputs(manifest=manifest, config=config, signature=sig_bytes),
        reasons=tuple(reasons),
        subject=subject,
    )


def sibling_wal_files(snapshot: PinnedFile) -> dict[str, BeneathFile]:
    """WAL segments in `wal_files/` beside a local snapshot (the artifact folder layout)."""
    found = snapshot_wal_files(snapshot, MAX_WAL_FILES)
    if found is None:
        raise ObjectError("T2", "spec.snapshot.uri", f"more than {MAX_WAL_FILES} WAL files")
    return found


def replication_request(obj: Mapping[str, Any], snapshots: SnapshotPolicy) -> Converted:
    spec = _spec(obj, "T2")
    present = {m: spec[s] for s, m in REPLICATION_FIELDS if s in spec}
    manifest = _json_bytes(present)  # JSON is YAML: parsed by the same strict loader
    attestation = spec.get("attestation")
    snap = spec.get("snapshot")
    uri = (snap.get("uri") if isinstance(snap, dict) else None) if snap is not None else None
    snapshot, warnings, refusals = _local_snapshot(
        uri, snap is not None, snapshots, "spec.snapshot.uri"
    )
    subject = {
        m: v for m, v in present.items() if isinstance(v, str) and m in ("source_db", "target_db")
    }
    return _replication(
        manifest,
        _json_bytes(attestation) if attestation is not None else None,
        snapshot,
        warnings,
        refusals,
        subject=subject,
    )


def _local_snapshot(
    uri: object, given: bool, snapshots: SnapshotPolicy, field: str
) -> tuple[PinnedFile | None, tuple[Reason, ...], tuple[Reason, ...]]:
    """(snapshot, warnings, refusals): the local snapshot a `file://` uri names, else why not.

    A uri that is not for this gate to hash is a warning; one naming something under the
    snapshot root that the gate refuses to read (a symlink, '..', not a regular file) BLOCKs.
    """
    if not given:
        return None, (), ()
    opened = open_snapshot(uri, snapshots.root, snapshots.max_bytes)
    if opened.file is not None:
        return opened.file, (), ()
    why = opened.why or "snapshot cannot be hashed"
    if opened.refused:
        refusal = Reason(
            policy="input-invalid",
            severity="critical",
            field=field,
            message=why,
        )
        return None, (), (refusal,)
    warning = Reason(
        policy="snapshot-not-hashed",
        severity="info",
        field=field,
        message=f"{why}; integrity rests on the attestation",
        action="warn",
    )
    return None, (warning,), ()


def _replication(
    manifest: bytes | None,
    attestation: bytes | None,
    snapshot: PinnedFile | None,
    warnings: tuple[Reason, ...],
    refusals: tuple[Reason, ...],
    *,
    subject: dict[str, str] | None = None,
) -> Converted:
    """Both replication forms (CRD and ConfigMap) build their inputs here, identically.

    A local snapshot means full verification, exactly as the CLI does for a folder: its bytes,
    its WAL segments beside it, and the attestation if one is given. Otherwise the attestation
    alone proves integrity (docs/artifacts.md).
    """
    wal = sibling_wal_files(snapshot) if snapshot is not None else {}
    return Converted(
        scenario="T2",
        inputs=ReplicationInputs(
            manifest=manifest,
            snapshot=snapshot,
            wal_files=dict(wal),
            attestation=attestation,
            snapshot_required=snapshot is not None,
        ),
        reasons=refusals,
        warnings=warnings,
        snapshot=snapshot,
        subject=subject or {},
    )


def _cm_value(data: Mapping[str, Any], key: str, scenario: Scenario) -> bytes | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ObjectError(scenario, f"data.{key}", "ConfigMap data values must be strings")
    return value.encode("utf-8")


def config_map(obj: Mapping[str, Any], snapshots: SnapshotPolicy) -> Converted:
    labels = obj.get("metadata", {}).get("labels", {})
    label = labels.get(SCENARIO_LABEL)
    scenario: Scenario = "T2" if label == "replication" else "T1"
    if label not in ("migration", "replication"):
        raise ObjectError(
            scenario,
            f"metadata.labels[{SCENARIO_LABEL}]",
            f"must be migration or replication (found {label!r})",
        )
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ObjectError(scenario, "data", "ConfigMap data must be an object")
    if label == "migration":
        return Converted(
            scenario="T1",
            inputs=MigrationInputs(
                manifest=_cm_value(data, MANIFEST_FILE, "T1"),
                config=_cm_value(data, CONFIG_FILE, "T1"),
                signature=_cm_value(data, MANIFEST_SIGNATURE_FILE, "T1"),
            ),
        )
    attestation = _cm_value(data, CM_ATTESTATION, "T2")
    if attestation is None:
        attestation = _cm_value(data, ATTESTATION_FILE, "T2")
    # optional `snapshot.uri`: the same file:// contract as a ReplicationRequest's spec.snapshot
    uri_bytes = _cm_value(data, CM_SNAPSHOT_URI, "T2")
    uri = uri_bytes.decode("utf-8").strip() if uri_bytes is not None else None
    snapshot, warnings, refusals = _local_snapshot(
        uri, uri is not None, snapshots, f"data.{CM_SNAPSHOT_URI}"
    )
    return _replication(
        _cm_value(data, REPLICATION_FILE, "T2"), attestation, snapshot, warnings, refusals
    )


def convert(kind: Kind, obj: Mapping[str, Any], snapshots: SnapshotPolicy) -> Converted:
    if kind == "MigrationRequest":
        return migration_request(obj)
    if kind == "ReplicationRequest":
        return replication_request(obj, snapshots)
    return config_map(obj, snapshots)
