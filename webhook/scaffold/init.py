"""`init`: a complete, valid starting folder for each scenario, deterministic bytes.

The migration folder's config meets every built-in policy (TLS 1.3 on, internal binds only,
secrets by reference, no root), and its manifest pins it; the replication folder holds a small
real snapshot (tar.gz with SHA256SUMS), one WAL segment and a manifest listing their digests.
Unsigned: staging ALLOWs (the missing signature is audit-only there); prod needs a signature.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

from webhook.atomicfile import write_atomic
from webhook.errors import UsageError
from webhook.pipelines.inputs import (
    CONFIG_FILE,
    MANIFEST_FILE,
    REPLICATION_FILE,
    SNAPSHOT_FILE,
    WAL_DIR,
)

WAL_NAME = "000000010000000000000001"
_MTIME = 1_790_000_000


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def config_yaml(app_id: str, env: str) -> bytes:
    return f"""# {app_id}, {env}: the config migration_manifest.json pins by SHA-256
# (after any edit: migration-gate pin DIR)
app_id: {app_id}
env: {env}
tls:
  enabled: true
  min_version: "1.3"
ports:
  - {{name: https, port: 8443, bind: 127.0.0.1, exposure: internal}}
secrets_ref: vault://kv/{app_id}/{env}
security:
  run_as_root: false
  privileged: false
  capabilities: []
database:
  host: db.internal
  password_ref: vault://kv/{app_id}/{env}#db-password
""".encode()


def manifest_json(app_id: str, env: str, config: bytes) -> bytes:
    doc = {"app_id": app_id, "env": env, "version": "0.1.0", "config_sha256": _sha256(config)}
    return (json.dumps(doc, indent=2) + "\n").encode()


def snapshot_tar_gz() -> bytes:
    """A deterministic tar.gz (fixed mtimes, gzip mtime 0) with its SHA256SUMS member."""
    members = {
        "backup_label": f"START WAL LOCATION: 0/1000028 (file {WAL_NAME})\n".encode(),
        "base/PG_VERSION": b"16\n",
    }
    members["SHA256SUMS"] = "".join(f"{_sha256(v)}  {k}\n" for k, v in members.items()).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), _MTIME, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def replication_yaml(env: str, snapshot: bytes, wal: bytes) -> bytes:
    return f"""# replication of source-db to target-db (replace both names with yours)
source_db: source-db
target_db: target-db
env: {env}
expected_snapshot_hash: sha256:{_sha256(snapshot)}
sync_mode: incremental
wal_files:
  - {{name: "{WAL_NAME}", sha256: {_sha256(wal)}}}
""".encode()


def _write(files: dict[Path, bytes], force: bool) -> list[Path]:
    for path in files:
        if path.exists() and not force:
            raise UsageError("already exists (use --force to overwrite)", file=str(path))
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data, mode=0o644)
    return list(files)


def init_migration(folder: Path, *, app_id: str, env: str, force: bool) -> list[Path]:
    config = config_yaml(app_id, env)
    return _write(
        {folder / CONFIG_FILE: config, folder / MANIFEST_FILE: manifest_json(app_id, env, config)},
        force,
    )


def init_replication(folder: Path, *, env: str, force: bool) -> list[Path]:
    snapshot = snapshot_tar_gz()
    wal = f"WAL segment {WAL_NAME} (replace with your real segments)\n".encode() * 64
    return _write(
        {
            folder / REPLICATION_FILE: replication_yaml(env, snapshot, wal),
            folder / SNAPSHOT_FILE: snapshot,
            folder / WAL_DIR / WAL_NAME: wal,
        },
        force,
    )
