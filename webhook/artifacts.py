"""Reading an artifact folder (the spec's file names) into engine inputs, for the CLI and tests.

This is door-side I/O: the engine itself only sees the bytes and paths produced here. Documents
are read up to their size limit plus one byte, so an oversized file is reported, never loaded.
"""

from __future__ import annotations

from pathlib import Path

from webhook.contracts.limits import DEFAULT_LIMITS
from webhook.errors import UsageError
from webhook.pipelines.inputs import (
    ATTESTATION_FILE,
    CONFIG_FILE,
    MANIFEST_FILE,
    MANIFEST_SIGNATURE_FILE,
    REPLICATION_FILE,
    SNAPSHOT_FILE,
    WAL_DIR,
    MigrationInputs,
    ReplicationInputs,
)


def read_limited(path: Path, *, limit: int = DEFAULT_LIMITS.max_bytes) -> bytes | None:
    """Read at most limit+1 bytes (the parser reports oversize); None when the file is absent."""
    try:
        with path.open("rb") as fh:
            return fh.read(limit + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise UsageError("is a directory, expected a file", file=str(path)) from None
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror}", file=str(path)) from None


def artifact_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise UsageError("not a directory (expected an artifact folder)", file=value)
    return path


def migration_inputs(folder: Path) -> MigrationInputs:
    return MigrationInputs(
        manifest=read_limited(folder / MANIFEST_FILE),
        config=read_limited(folder / CONFIG_FILE),
        signature=read_limited(folder / MANIFEST_SIGNATURE_FILE),
    )


def replication_inputs(folder: Path) -> ReplicationInputs:
    snapshot = folder / SNAPSHOT_FILE
    wal_dir = folder / WAL_DIR
    wal: dict[str, bytes | Path] = {}
    if wal_dir.is_dir():
        wal = {p.name: p for p in sorted(wal_dir.iterdir()) if p.is_file()}
    return ReplicationInputs(
        manifest=read_limited(folder / REPLICATION_FILE),
        snapshot=snapshot if snapshot.is_file() else None,
        wal_files=wal,
        attestation=read_limited(folder / ATTESTATION_FILE),
    )
