"""The issue's bad-input list: each is a BLOCK whose reason names the file and the field."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from webhook.artifacts import migration_inputs, replication_inputs
from webhook.contracts.decision import Decision, Reason
from webhook.pipelines import Engine, MigrationInputs, ReplicationInputs


def t1_decision(engine: Engine, folder: Path) -> Decision:
    return engine.validate_migration(migration_inputs(folder))


def t2_decision(engine: Engine, folder: Path) -> Decision:
    return engine.validate_replication(replication_inputs(folder))


def only(decision: Decision, policy: str) -> Reason:
    assert decision.decision == "BLOCK", decision
    matches = [r for r in decision.reasons if r.policy == policy]
    assert matches, f"no {policy} in {[r.line() for r in decision.reasons]}"
    return matches[0]


def repin(folder: Path) -> None:
    """Re-pin config_sha256 after editing app-config.yaml, and drop the now stale signature."""
    manifest = json.loads((folder / "migration_manifest.json").read_text())
    manifest["config_sha256"] = hashlib.sha256(
        (folder / "app-config.yaml").read_bytes()
    ).hexdigest()
    (folder / "migration_manifest.json").write_text(json.dumps(manifest))
    (folder / "migration_manifest.dsse.json").unlink()


def test_good_examples_allow(engine: Engine, t1: Path, t2: Path) -> None:
    assert t1_decision(engine, t1).decision == "ALLOW"
    assert t2_decision(engine, t2).decision == "ALLOW"


@pytest.mark.parametrize("name", ["migration_manifest.json", "app-config.yaml"])
def test_missing_file(engine: Engine, t1: Path, name: str) -> None:
    (t1 / name).unlink()
    reason = only(t1_decision(engine, t1), "input-missing")
    assert reason.file == name


def test_missing_snapshot(engine: Engine, t2: Path) -> None:
    (t2 / "snapshot.tar.gz").unlink()
    assert only(t2_decision(engine, t2), "input-missing").file == "snapshot.tar.gz"


@pytest.mark.parametrize("name", ["migration_manifest.json", "app-config.yaml"])
def test_empty_file(engine: Engine, t1: Path, name: str) -> None:
    (t1 / name).write_bytes(b"")
    reason = only(t1_decision(engine, t1), "input-invalid")
    assert reason.file == name and "empty" in reason.message


def test_wrong_type(engine: Engine, t1: Path) -> None:
    m = json.loads((t1 / "migration_manifest.json").read_text())
    m["version"] = 42
    (t1 / "migration_manifest.json").write_text(json.dumps(m))
    reason = only(t1_decision(engine, t1), "input-invalid")
    assert (reason.file, reason.field) == ("migration_manifest.json", "version")


def test_duplicate_keys(engine: Engine, t1: Path) -> None:
    cfg = (t1 / "app-config.yaml").read_text() + "env: staging\n"
    (t1 / "app-config.yaml").write_text(cfg)
    reason = only(t1_decision(engine, t1), "input-invalid")
    assert reason.file == "app-config.yaml" and "duplicate key 'env'" in reason.message


def test_alias_bomb(engine: Engine, t1: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    (t1 / "app-config.yaml").write_text("\n".join(lines))
    reason = only(t1_decision(engine, t1), "input-invalid")
    assert reason.file == "app-config.yaml" and "alias" in reason.message


def test_50mb_yaml(engine: Engine, t1: Path) -> None:
    with (t1 / "app-config.yaml").open("wb") as fh:
        fh.write(b"padding: ")
        fh.write(b"x" * (50 * 1024 * 1024))
    reason = only(t1_decision(engine, t1), "input-invalid")
    assert reason.file == "app-config.yaml" and "limit" in reason.message


def test_invalid_utf8(engine: Engine, t1: Path) -> None:
    (t1 / "app-config.yaml").write_bytes(b"app_id: pay\xffments\n")
    reason = only(t1_decision(engine, t1), "input-invalid")
    assert reason.file == "app-config.yaml" and "UTF-8" in reason.message


def test_env_prod_capitalised(engine: Engine, t1: Path) -> None:
    m = json.loads((t1 / "migration_manifest.json").read_text())
    m["env"] = "Prod"
    (t1 / "migration_manifest.json").write_text(json.dumps(m))
    reason = only(t1_decision(engine, t1), "input-invalid")
    assert reason.field == "env" and "'Prod'" in reason.message


def test_unknown_env_is_judged_as_prod(engine: Engine, t1: Path) -> None:
    m = json.loads((t1 / "migration_manifest.json").read_text())
    m["env"] = "Prod"
    (t1 / "migration_manifest.json").write_text(json.dumps(m))
    cfg = (t1 / "app-config.yaml").read_text().replace("enabled: true", "enabled: false")
    (t1 / "app-config.yaml").write_text(cfg)
    d = t1_decision(engine, t1)
    assert {"input-invalid", "tls-required"} <= {r.policy for r in d.reasons}


def test_later_steps_still_report(engine: Engine, t1: Path) -> None:
    """A schema failure does not hide a hash mismatch or a policy violation."""
    m = json.loads((t1 / "migration_manifest.json").read_text())
    del m["version"]
    (t1 / "migration_manifest.json").write_text(json.dumps(m))
    cfg = (t1 / "app-config.yaml").read_text().replace("enabled: true", "enabled: false")
    (t1 / "app-config.yaml").write_text(cfg)
    d = t1_decision(engine, t1)
    assert {"input-invalid", "config-hash-mismatch", "tls-required"} <= {
        r.policy for r in d.reasons
    }
    assert [s.name for s in d.steps] == [
        "parse",
        "schema",
        "compute-config-hash",
        "compare-manifest",
        "policies",
    ]


def test_config_identity_mismatch(engine: Engine, t1: Path) -> None:
    cfg = (t1 / "app-config.yaml").read_text().replace("app_id: payments", "app_id: ledger")
    (t1 / "app-config.yaml").write_text(cfg)
    repin(t1)
    reason = only(t1_decision(engine, t1), "config-identity-mismatch")
    assert (reason.file, reason.field) == ("app-config.yaml", "app_id")


def _write_snapshot(folder: Path, data: bytes) -> None:
    (folder / "snapshot.tar.gz").write_bytes(data)


def test_truncated_snapshot(engine: Engine, t2: Path) -> None:
    data = (t2 / "snapshot.tar.gz").read_bytes()
    _write_snapshot(t2, data[: len(data) // 2])
    d = t2_decision(engine, t2)
    assert only(d, "archive-invalid").file == "snapshot.tar.gz"
    only(d, "snapshot-hash-mismatch")


def test_non_gzip_snapshot(engine: Engine, t2: Path) -> None:
    _write_snapshot(t2, b"PK\x03\x04 this is a zip, not a tar.gz" * 10)
    assert only(t2_decision(engine, t2), "archive-invalid").file == "snapshot.tar.gz"


def _tar(add: list[tarfile.TarInfo]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info in add:
            data = b"x" * info.size if info.isfile() else None
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), mtime=0)


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.size = 4 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize(
    ("member", "policy"),
    [
        (_member("../escape"), "archive-path-traversal"),
        (_member("/etc/passwd"), "archive-path-traversal"),
        (_member("data/link", tarfile.SYMTYPE, "../../../etc/shadow"), "archive-link-escape"),
        (_member("data/dev", tarfile.CHRTYPE), "archive-special-member"),
    ],
)
def test_hostile_archive(engine: Engine, t2: Path, member: tarfile.TarInfo, policy: str) -> None:
    _write_snapshot(t2, _tar([_member("data/ok"), member]))
    reason = only(t2_decision(engine, t2), policy)
    assert reason.file == "snapshot.tar.gz" and member.name in reason.message


def _manifest(folder: Path) -> str:
    return (folder / "replication_manifest.yaml").read_text()


def test_wal_out_of_order(engine: Engine, t2: Path) -> None:
    text = _manifest(t2)
    a, b = "000000010000000000000001", "000000010000000000000002"
    text = text.replace(a, "@").replace(b, a).replace("@", b)
    (t2 / "replication_manifest.yaml").write_text(text)
    reason = only(t2_decision(engine, t2), "wal-integrity")
    assert reason.file == "replication_manifest.yaml" and reason.field.startswith("wal_files[")


def test_wal_duplicated(engine: Engine, t2: Path) -> None:
    lines = _manifest(t2).splitlines()
    wal_lines = [line for line in lines if "000000010000000000000003" in line]
    (t2 / "replication_manifest.yaml").write_text("\n".join(lines + wal_lines) + "\n")
    reason = only(t2_decision(engine, t2), "wal-integrity")
    assert "listed twice" in reason.message


def test_wal_unlisted_and_missing(engine: Engine, t2: Path) -> None:
    (t2 / "wal_files" / "000000010000000000000009").write_bytes(b"stray")
    (t2 / "wal_files" / "000000010000000000000002").unlink()
    d = t2_decision(engine, t2)
    messages = [r.message for r in d.reasons if r.policy == "wal-integrity"]
    assert any("not listed" in m for m in messages)
    assert any("not provided" in m for m in messages)


def test_untrusted_signature(t1: Path) -> None:
    engine = Engine.load()  # empty trust store: nobody is trusted
    d = engine.validate_migration(migration_inputs(t1))
    reason = only(d, "signature-invalid")
    assert reason.file == "migration_manifest.dsse.json"


def test_signature_over_other_manifest(engine: Engine, t1: Path) -> None:
    m = json.loads((t1 / "migration_manifest.json").read_text())
    m["version"] = "9.9.9"
    (t1 / "migration_manifest.json").write_text(json.dumps(m))
    reason = only(t1_decision(engine, t1), "signature-invalid")
    assert "different manifest" in reason.message


def test_attestation_only_mode_requires_attestation(engine: Engine, t2: Path) -> None:
    inputs = replication_inputs(t2)
    d = engine.validate_replication(
        ReplicationInputs(manifest=inputs.manifest, snapshot=None, snapshot_required=False)
    )
    assert only(d, "input-missing").file == "snapshot.dsse.json"
    d = engine.validate_replication(
        ReplicationInputs(
            manifest=inputs.manifest,
            snapshot=None,
            attestation=inputs.attestation,
            snapshot_required=False,
        )
    )
    assert d.decision == "ALLOW", [r.line() for r in d.reasons]


def test_deadline_exceeded_blocks(engine: Engine, t1: Path) -> None:
    d = engine.validate_migration(migration_inputs(t1), deadline=0.0)
    assert only(d, "deadline-exceeded")
    assert all(not s.ok for s in d.steps)


def test_no_inputs_at_all(engine: Engine) -> None:
    d = engine.validate_migration(MigrationInputs(manifest=None, config=None))
    assert {r.file for r in d.reasons if r.policy == "input-missing"} == {
        "migration_manifest.json",
        "app-config.yaml",
    }
