"""One rule for every declared digest, through the Engine on copies of the real examples.

`sha256:<hex>` is accepted for config_sha256, expected_snapshot_hash and wal_files[].sha256
(bare 64 hex too where the field's name says sha256). A format mistake is an input-invalid
reason naming the file and field: never a hash mismatch, an integrity/attestation failure, a
critical reason or a P1 alert. A well-formed digest that differs is still tampering.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from webhook.artifacts import migration_inputs, replication_inputs
from webhook.audit.alerts import plan_alerts
from webhook.contracts.decision import Decision
from webhook.contracts.models import MANIFEST_PAYLOAD_TYPE
from webhook.integrity import envelope_json, load_private_key_pem, sign_envelope
from webhook.pipelines import Engine

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SIGNER = EXAMPLES / "keys" / "signer.TEST-ONLY.key"
T1_FILE, T2_FILE = "migration_manifest.json", "replication_manifest.yaml"
TAMPERING = {
    "config-hash-mismatch",
    "snapshot-hash-mismatch",
    "wal-integrity",
    "attestation-mismatch",
    "integrity",
    "signature-invalid",
}

#: (value given the correct hex, what is wrong with it)
T1_MISTAKES = [
    (lambda h: h.upper(), "hex digits must be lowercase"),
    (lambda h: "SHA256:" + h, "algorithm prefix 'SHA256' must be lowercase"),
    (lambda h: "sha256:" + h[:-1], "sha256 digest must be 64 hex characters, found 63"),
    (lambda h: h[:-1], "a bare sha256 digest is 64 hex characters, found 63"),
    (lambda h: "sha512:" + h + h, "this field holds a sha256 digest (found a sha512 digest)"),
    (lambda h: " sha256:" + h, "leading or trailing whitespace"),
    (lambda h: "sha-256:" + h, "unsupported digest algorithm 'sha-256'"),
    (lambda h: "sha256:" + h[:-1] + "g", "is not hexadecimal"),
]


def resign(folder: Path, manifest: dict[str, object]) -> None:
    """Write the manifest and sign its exact bytes with the examples' test key."""
    data = json.dumps(manifest, indent=2).encode()
    (folder / T1_FILE).write_bytes(data)
    key = load_private_key_pem(SIGNER.read_bytes(), file=str(SIGNER))
    envelope = sign_envelope(data, MANIFEST_PAYLOAD_TYPE, [key])
    (folder / "migration_manifest.dsse.json").write_bytes(envelope_json(envelope))


def t1_with(t1: Path, engine: Engine, value: str) -> Decision:
    manifest = json.loads((t1 / T1_FILE).read_text())
    manifest["config_sha256"] = value
    resign(t1, manifest)
    return engine.validate_migration(migration_inputs(t1))


def config_hex(t1: Path) -> str:
    return hashlib.sha256((t1 / "app-config.yaml").read_bytes()).hexdigest()


def t2_with(t2: Path, engine: Engine, **changes: object) -> Decision:
    manifest = yaml.safe_load((t2 / T2_FILE).read_text())
    manifest.update(changes)
    (t2 / T2_FILE).write_text(yaml.safe_dump(manifest, sort_keys=False))
    return engine.validate_replication(replication_inputs(t2))


def assert_format_mistake(decision: Decision, *, file: str, field: str, says: str) -> None:
    assert decision.decision == "BLOCK"
    lines = [r.line() for r in decision.reasons]
    assert [(r.policy, r.file, r.field) for r in decision.reasons] == [
        ("input-invalid", file, field)
    ], lines
    reason = decision.reasons[0]
    assert reason.severity == "high" and says in reason.message, reason.message
    assert "sha256:<64 lowercase hex>" in reason.message  # says how to write it
    assert not TAMPERING & set(decision.policy_ids())
    assert [a.severity for a in plan_alerts(decision, dry_run=False)] == ["P2"]


@pytest.fixture
def t2_engine() -> Engine:
    return Engine.load(trust_dir=EXAMPLES / "t2_good" / "trust")


# ---- config_sha256 ----


@pytest.mark.parametrize("form", ["bare", "prefixed"])
def test_config_sha256_both_forms_allow(t1: Path, engine: Engine, form: str) -> None:
    h = config_hex(t1)
    decision = t1_with(t1, engine, h if form == "bare" else f"sha256:{h}")
    assert decision.decision == "ALLOW", [r.line() for r in decision.reasons]


@pytest.mark.parametrize(("mistake", "says"), T1_MISTAKES, ids=[s for _, s in T1_MISTAKES])
def test_config_sha256_format_mistake_is_input_invalid(
    t1: Path, engine: Engine, mistake: object, says: str
) -> None:
    decision = t1_with(t1, engine, mistake(config_hex(t1)))  # type: ignore[operator]
    assert_format_mistake(decision, file=T1_FILE, field="config_sha256", says=says)


def test_config_sha256_md5_is_outdated_hashing_not_tampering(t1: Path, engine: Engine) -> None:
    md5 = hashlib.md5((t1 / "app-config.yaml").read_bytes()).hexdigest()
    decision = t1_with(t1, engine, f"md5:{md5}")
    assert decision.policy_ids() == ["input-invalid", "weak-hash-forbidden"]
    assert "outdated hashing" in decision.reasons[0].message
    assert not TAMPERING & set(decision.policy_ids())


def test_config_sha256_that_differs_is_still_tampering(t1: Path, engine: Engine) -> None:
    decision = t1_with(t1, engine, "sha256:" + "0" * 64)
    [reason] = decision.reasons
    assert (reason.policy, reason.severity) == ("config-hash-mismatch", "critical")
    assert [a.severity for a in plan_alerts(decision, dry_run=False)] == ["P1"]


# ---- expected_snapshot_hash ----


def test_snapshot_hash_prefixed_allows(t2: Path, t2_engine: Engine) -> None:
    assert t2_engine.validate_replication(replication_inputs(t2)).decision == "ALLOW"


@pytest.mark.parametrize(
    ("mistake", "says"),
    [
        (lambda v: v.upper(), "algorithm prefix 'SHA256' must be lowercase"),
        (lambda v: v[:-1], "sha256 digest must be 64 hex characters, found 63"),
        (lambda v: v[:7] + v[7:].upper(), "hex digits must be lowercase"),
        (lambda v: v + "\n", "leading or trailing whitespace"),
        (lambda v: "sha3:" + v[7:], "unsupported digest algorithm 'sha3'"),
    ],
    ids=["prefix-case", "length", "hex-case", "whitespace", "algorithm"],
)
def test_snapshot_hash_format_mistake_is_input_invalid(
    t2: Path, t2_engine: Engine, mistake: object, says: str
) -> None:
    good = yaml.safe_load((t2 / T2_FILE).read_text())["expected_snapshot_hash"]
    decision = t2_with(t2, t2_engine, expected_snapshot_hash=mistake(good))  # type: ignore[operator]
    assert_format_mistake(decision, file=T2_FILE, field="expected_snapshot_hash", says=says)


def test_snapshot_hash_that_differs_is_still_tampering(t2: Path, t2_engine: Engine) -> None:
    decision = t2_with(t2, t2_engine, expected_snapshot_hash="sha256:" + "0" * 64)
    assert "snapshot-hash-mismatch" in decision.policy_ids()


# ---- wal_files[].sha256 ----


def wal_list(t2: Path) -> list[dict[str, str]]:
    return list(yaml.safe_load((t2 / T2_FILE).read_text())["wal_files"])


def test_wal_sha256_prefixed_allows(t2: Path, t2_engine: Engine) -> None:
    wal = [{**w, "sha256": "sha256:" + w["sha256"]} for w in wal_list(t2)]
    decision = t2_with(t2, t2_engine, wal_files=wal)
    assert decision.decision == "ALLOW", [r.line() for r in decision.reasons]


@pytest.mark.parametrize(
    ("mistake", "says"),
    [
        (lambda h: h.upper(), "hex digits must be lowercase"),
        (lambda h: "sha256:" + h[:-1], "sha256 digest must be 64 hex characters, found 63"),
        (lambda h: "sha512:" + h + h, "this field holds a sha256 digest (found a sha512 digest)"),
        (lambda h: "Sha256:" + h, "algorithm prefix 'Sha256' must be lowercase"),
    ],
    ids=["hex-case", "length", "other-algorithm", "prefix-case"],
)
def test_wal_sha256_format_mistake_is_input_invalid(
    t2: Path, t2_engine: Engine, mistake: object, says: str
) -> None:
    wal = wal_list(t2)
    wal[1]["sha256"] = mistake(wal[1]["sha256"])  # type: ignore[operator]
    decision = t2_with(t2, t2_engine, wal_files=wal)
    assert_format_mistake(decision, file=T2_FILE, field="wal_files[1].sha256", says=says)


def test_wal_sha256_md5_is_outdated_hashing_not_tampering(t2: Path, t2_engine: Engine) -> None:
    wal = wal_list(t2)
    wal[0]["sha256"] = "md5:" + "a" * 32
    decision = t2_with(t2, t2_engine, wal_files=wal)
    assert decision.policy_ids() == ["input-invalid", "weak-hash-forbidden"]
    assert not TAMPERING & set(decision.policy_ids())


def test_wal_sha256_that_differs_is_still_tampering(t2: Path, t2_engine: Engine) -> None:
    wal = wal_list(t2)
    wal[2]["sha256"] = "sha256:" + "0" * 64
    decision = t2_with(t2, t2_engine, wal_files=wal)
    assert "wal-integrity" in decision.policy_ids()
