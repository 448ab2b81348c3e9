"""What a door hands the engine: exact bytes (never re-serialised) and paths of large files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a hint only: a door that pins files has loaded it already
    from webhook.integrity.pinned import PinnedSource

MANIFEST_FILE = "migration_manifest.json"
CONFIG_FILE = "app-config.yaml"
MANIFEST_SIGNATURE_FILE = "migration_manifest.dsse.json"
REPLICATION_FILE = "replication_manifest.yaml"
SNAPSHOT_FILE = "snapshot.tar.gz"
ATTESTATION_FILE = "snapshot.dsse.json"
WAL_DIR = "wal_files"


@dataclass(frozen=True)
class MigrationInputs:
    manifest: bytes | None
    config: bytes | None
    signature: bytes | None = None


@dataclass(frozen=True)
class ReplicationInputs:
    manifest: bytes | None
    #: a Path (CLI, API spool) or a file the door opened beneath its root (admission)
    snapshot: Path | PinnedSource | None
    wal_files: Mapping[str, bytes | Path | PinnedSource] = field(default_factory=dict)
    attestation: bytes | None = None
    #: False for admission: no snapshot bytes, integrity is proven by the attestation alone
    snapshot_required: bool = True
