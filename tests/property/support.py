"""Shared plumbing for the property tests: the good examples, engines, signing, and the doors.

The engine is asked for prod whenever it lets the door say the env (`env=` keyword), so the
tests hold both before and after the door-chooses-env change (issue 11, item 2).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import shutil
import tarfile
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from webhook.contracts.decision import Decision
from webhook.contracts.models import INTOTO_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE
from webhook.integrity import envelope_json, load_private_key_pem, sign_envelope
from webhook.pipelines import Engine
from webhook.pipelines.inputs import MigrationInputs, ReplicationInputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
T1_GOOD = EXAMPLES / "t1_good"
T2_GOOD = EXAMPLES / "t2_good"
KEYS = EXAMPLES / "keys"
#: a fixed clock inside the examples' attestation validity, so decisions are reproducible
NOW = datetime(2027, 1, 1, tzinfo=UTC)
ENV = "prod"

T1_FILES = ("migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json")


def example_folders() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if (p / "expected.json").is_file())


def expected(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / "expected.json").read_text())
    return doc


@cache
def engine(trust_dir: Path = T1_GOOD / "trust") -> Engine:
    return Engine.load(trust_dir=trust_dir)


def fresh_engine(trust_dir: Path = T1_GOOD / "trust") -> Engine:
    return Engine.load(trust_dir=trust_dir)


def _env_kw(method: Any) -> dict[str, Any]:
    return {"env": ENV} if "env" in inspect.signature(method).parameters else {}


def decide_t1(
    inputs: MigrationInputs, eng: Engine | None = None, *, request_id: str = "prop"
) -> Decision:
    eng = eng or engine()
    method = eng.validate_migration
    return method(inputs, request_id=request_id, now=NOW, **_env_kw(method))


def decide_t2(
    inputs: ReplicationInputs, eng: Engine | None = None, *, request_id: str = "prop"
) -> Decision:
    eng = eng or engine()
    method = eng.validate_replication
    return method(inputs, request_id=request_id, now=NOW, **_env_kw(method))


def verdict(d: Decision) -> tuple[str, list[tuple[str, str, str | None, str]], list[Any]]:
    """What must be equal between two runs or two doors: verdict, reasons, warnings."""

    def keys(rs: Any) -> list[Any]:
        return sorted((r.policy, r.field, r.file, r.message) for r in rs)

    return d.decision, keys(d.reasons), keys(d.warnings)


def explain(d: Decision) -> str:
    return "\n".join(r.line() for r in d.reasons) or "(no reasons)"


# ---- the good inputs -----------------------------------------------------------------------


def t1_good() -> dict[str, bytes]:
    return {name: (T1_GOOD / name).read_bytes() for name in T1_FILES}


def t1_inputs(files: dict[str, bytes | None]) -> MigrationInputs:
    return MigrationInputs(
        manifest=files.get("migration_manifest.json"),
        config=files.get("app-config.yaml"),
        signature=files.get("migration_manifest.dsse.json"),
    )


@cache
def signing_key(name: str = "signer") -> Any:
    data = (KEYS / f"{name}.TEST-ONLY.key").read_bytes()
    return load_private_key_pem(data, file=name)


def sign(payload: bytes, payload_type: str = MANIFEST_PAYLOAD_TYPE, key: str = "signer") -> bytes:
    return envelope_json(sign_envelope(payload, payload_type, [signing_key(key)]))


def repin(config: bytes, manifest: bytes | None = None) -> dict[str, bytes]:
    """The manifest pinning `config` by SHA-256 and signed by the trusted TEST key.

    This is what a legitimate producer with the key does: the gate must then judge the config's
    content alone, so a hostile config cannot lean on a hash mismatch to be blocked.
    """
    import hashlib

    doc = json.loads(manifest or (T1_GOOD / "migration_manifest.json").read_bytes())
    doc["config_sha256"] = hashlib.sha256(config).hexdigest()
    raw = (json.dumps(doc, indent=2) + "\n").encode()
    return {
        "migration_manifest.json": raw,
        "app-config.yaml": config,
        "migration_manifest.dsse.json": sign(raw),
    }


def t2_copy(dst: Path) -> Path:
    shutil.copytree(T2_GOOD, dst, dirs_exist_ok=True)
    return dst


def t2_inputs(folder: Path) -> ReplicationInputs:
    from webhook.artifacts import replication_inputs

    return replication_inputs(folder)


def reattest(folder: Path) -> None:
    """Re-sign the folder's attestation over its current snapshot and WAL files (TEST key)."""
    import hashlib
    import re

    from webhook.cli.statement import replication_statement

    manifest = folder / "replication_manifest.yaml"
    digest = hashlib.sha256((folder / "snapshot.tar.gz").read_bytes()).hexdigest()
    text = re.sub(
        r"expected_snapshot_hash: sha256:[0-9a-f]{64}",
        f"expected_snapshot_hash: sha256:{digest}",
        manifest.read_text(),
    )
    manifest.write_text(text)
    statement = replication_statement(folder, valid_for=timedelta(days=3650))
    doc = json.loads(statement)
    if "env" not in doc["predicate"]:  # the env binding (issue 11 item 2), whichever lands first
        doc["predicate"]["env"] = ENV
        statement = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    (folder / "snapshot.dsse.json").write_bytes(sign(statement, INTOTO_PAYLOAD_TYPE))


def snapshot_members(path: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(path, "r:gz") as tf:
        out = []
        for m in tf.getmembers():
            fh = tf.extractfile(m) if m.isfile() else None
            out.append((m, fh.read() if fh else None))
        return out


def write_snapshot(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(buf.getvalue())


@contextlib.contextmanager
def quiet() -> Any:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        yield out


def scaled(n: int) -> int:
    """A test's example budget: n in CI, 30n under HYPOTHESIS_PROFILE=fuzz (`make fuzz`)."""
    import os

    return n * (30 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 1)
