"""The in-toto statement `sign replication` signs: snapshot and WAL digests, bound to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from webhook.artifacts import read_limited
from webhook.contracts.env import door_env
from webhook.contracts.models import REPLICATION_PREDICATE, STATEMENT_TYPE
from webhook.contracts.strict import load_yaml
from webhook.errors import InputError, UsageError
from webhook.integrity import hash_file
from webhook.pipelines.inputs import REPLICATION_FILE, SNAPSHOT_FILE, WAL_DIR


def replication_statement(folder: Path, *, valid_for: timedelta) -> bytes:
    """Build the in-toto statement binding the snapshot and WAL digests to the manifest."""

    raw = read_limited(folder / REPLICATION_FILE)
    if raw is None:
        raise UsageError("no such file", file=str(folder / REPLICATION_FILE))
    manifest = load_yaml(raw, source=REPLICATION_FILE)
    if not isinstance(manifest, dict):
        raise InputError("expected a mapping", file=REPLICATION_FILE)
    snapshot = folder / SNAPSHOT_FILE
    if not snapshot.is_file():
        raise UsageError("no such file", file=str(snapshot))
    subjects = [{"name": SNAPSHOT_FILE, "digest": {"sha256": hash_file(snapshot)}}]
    wal_dir = folder / WAL_DIR
    if wal_dir.is_dir():
        subjects += [
            {"name": f"{WAL_DIR}/{p.name}", "digest": {"sha256": hash_file(p)}}
            for p in sorted(wal_dir.iterdir())
            if p.is_file()
        ]
    now = datetime.now(UTC).replace(microsecond=0)
    predicate = {k: manifest.get(k) for k in ("source_db", "target_db", "sync_mode")}
    predicate["created"] = now.isoformat().replace("+00:00", "Z")
    predicate["expires"] = (now + valid_for).isoformat().replace("+00:00", "Z")
    # the env is signed (issue 11): the statement verifies only through that env's door
    predicate["env"] = door_env(manifest.get("env"))
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": REPLICATION_PREDICATE,
        "predicate": predicate,
    }
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
