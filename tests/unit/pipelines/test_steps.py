"""The T1 and T2 pipeline steps as pure functions: each rule on its own, no files, no engine."""

from __future__ import annotations

from typing import Any

import pytest

from webhook.contracts.models import AppConfig, MigrationManifest
from webhook.integrity import ArchiveFinding, parse_digest
from webhook.pipelines.migration import (
    check_config_hash,
    check_identity,
    check_signed_manifest,
    schema_reasons,
)
from webhook.pipelines.replication import (
    archive_reasons,
    check_wal_list,
    compare_snapshot,
    compare_wal,
    expected_digest,
    snapshot_algorithms,
)

W1, W2, W3 = (f"00000001000000000000000{i}" for i in (1, 2, 3))
D1, D2 = "1" * 64, "2" * 64


def ids(reasons: list[Any]) -> list[tuple[str, str, str | None]]:
    return [(r.policy, r.field, r.file) for r in reasons]


# ---- T2: the WAL list ----


def test_wal_list_in_order() -> None:
    wal = check_wal_list([{"name": W1, "sha256": D1}, {"name": W2, "sha256": "sha256:" + D2}])
    assert wal.declared == {W1: D1, W2: D2} and wal.reasons == []
    assert wal.hashes == {"wal_files[0].sha256": "sha256", "wal_files[1].sha256": "sha256"}


def test_wal_list_twice() -> None:
    wal = check_wal_list([{"name": W1, "sha256": D1}, {"name": W1, "sha256": D2}])
    assert ids(wal.reasons) == [("wal-integrity", "wal_files[1].name", "replication_manifest.yaml")]
    assert wal.declared == {W1: D1}  # the first occurrence counts


def test_wal_list_out_of_order() -> None:
    wal = check_wal_list(
        [{"name": W2, "sha256": D2}, {"name": W1, "sha256": D1}, {"name": W3, "sha256": D1}]
    )
    assert ids(wal.reasons) == [("wal-integrity", "wal_files[1].name", "replication_manifest.yaml")]
    assert "out of order" in wal.reasons[0].message


def test_wal_list_weak_and_bad_digests() -> None:
    wal = check_wal_list(
        [{"name": W1, "sha256": "md5:" + "a" * 32}, {"name": W2, "sha256": "not-a-digest"}]
    )
    assert wal.hashes == {"wal_files[0].sha256": "md5"}
    assert ids(wal.reasons) == [
        ("input-invalid", "wal_files[1].sha256", "replication_manifest.yaml")
    ]


def test_wal_list_skips_what_the_schema_reports() -> None:
    wal = check_wal_list(["x", {"name": 1, "sha256": D1}, {"name": W1}, None])
    assert wal.declared == {} and wal.reasons == []


def test_expected_digest() -> None:
    assert expected_digest(123) == (None, [])
    digest, reasons = expected_digest("sha512:" + "b" * 128)
    assert digest is not None and digest.algorithm == "sha512" and reasons == []
    digest, reasons = expected_digest("SHA256:" + D1)
    assert digest is None
    assert ids(reasons) == [
        ("input-invalid", "expected_snapshot_hash", "replication_manifest.yaml")
    ]


def test_snapshot_algorithms() -> None:
    assert snapshot_algorithms(None) == ("sha256",)
    assert snapshot_algorithms(parse_digest("sha384:" + "c" * 96, file="m", field="f")) == (
        "sha256",
        "sha384",
    )
    assert snapshot_algorithms(parse_digest("md5:" + "c" * 32, file="m", field="f")) == ("sha256",)


# ---- T2: compare ----


def test_compare_snapshot() -> None:
    good = parse_digest("sha256:" + D1, file="m", field="f")
    assert compare_snapshot(None, D1) == []
    assert compare_snapshot(good, D1) == []
    assert compare_snapshot(good, None) == []  # admission: no bytes, the attestation decides
    [r] = compare_snapshot(good, D2)
    assert (r.policy, r.severity) == ("snapshot-hash-mismatch", "critical")


@pytest.mark.parametrize("value", ["md5:" + "a" * 32, "sha1:" + "a" * 40, "a" * 32])
def test_compare_snapshot_weak_is_unverifiable(value: str) -> None:
    [r] = compare_snapshot(parse_digest(value, file="m", field="f"), D1)
    assert r.policy == "snapshot-hash-unverifiable"


def test_compare_wal() -> None:
    declared = {W1: D1, W2: D2}
    assert compare_wal(declared, {W1: D1, W2: D2}, all_provided=True) == []
    reasons = compare_wal(declared, {W1: D2, W3: D1}, all_provided=True)
    assert ids(reasons) == [
        ("wal-integrity", "wal_files", f"wal_files/{W3}"),  # provided, not listed
        ("wal-integrity", "wal_files", "replication_manifest.yaml"),  # listed, not provided
        ("wal-integrity", "sha256", f"wal_files/{W1}"),  # altered
    ]


def test_compare_wal_attestation_only() -> None:
    assert compare_wal({W1: D1}, {}, all_provided=False) == []


def test_archive_reasons_name_the_member() -> None:
    [r] = archive_reasons([ArchiveFinding("archive-path-traversal", "../x", "escapes the root")])
    assert (r.policy, r.field, r.file, r.severity) == (
        "archive-path-traversal",
        "../x",
        "snapshot.tar.gz",
        "critical",
    )
    assert "'../x'" in r.message


def test_archive_reasons_refuse_an_unregistered_id() -> None:
    with pytest.raises(ValueError, match="not registered"):
        archive_reasons([ArchiveFinding("archive-new", "m", "x")])  # type: ignore[arg-type]


# ---- T1 ----


def _manifest(**kw: Any) -> MigrationManifest:
    base = {"app_id": "payments", "env": "prod", "version": "1", "config_sha256": D1}
    return MigrationManifest.model_validate({**base, **kw})


def test_check_identity() -> None:
    cfg = AppConfig.model_validate({"app_id": "payments", "env": "prod"})
    assert check_identity(cfg, _manifest()) == []
    [r] = check_identity(cfg, _manifest(app_id="ledger"))
    assert ids([r]) == [("config-identity-mismatch", "app_id", "app-config.yaml")]


def test_check_config_hash() -> None:
    assert check_config_hash({"config_sha256": D1}, D1) == []
    assert check_config_hash({"config_sha256": D1}, None) == []
    assert check_config_hash({"config_sha256": 5}, D1) == []  # the schema's finding
    assert check_config_hash(["config_sha256"], D1) == []
    [r] = check_config_hash({"config_sha256": D1}, D2)
    assert ids([r]) == [("config-hash-mismatch", "config_sha256", "migration_manifest.json")]
    assert D1 in r.message and D2 in r.message


def test_check_signed_manifest() -> None:
    assert check_signed_manifest(b"{}", b"{}") == []
    [r] = check_signed_manifest(b'{"v": 1}', b'{"v": 2}')
    assert ids([r]) == [("signature-invalid", "payload", "migration_manifest.dsse.json")]


def test_schema_reasons() -> None:
    assert ids(schema_reasons([("version", "required field is missing")], file="f")) == [
        ("input-invalid", "version", "f")
    ]
