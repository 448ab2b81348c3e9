"""The T2 statement checks, one rule at a time (they were closures nobody could call alone)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from webhook.contracts.models import InTotoStatement, ReplicationManifest
from webhook.integrity import parse_digest
from webhook.pipelines.statement import (
    check_env,
    check_identity,
    check_snapshot_subject,
    check_statement,
    check_validity,
    check_wal_subjects,
    hex_algorithm,
    parse_time,
    subject_map,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
SNAP = "a" * 64
WAL1, WAL2 = "000000010000000000000001", "000000010000000000000002"
D1, D2 = "1" * 64, "2" * 64


def statement(**predicate: Any) -> InTotoStatement:
    pred = {
        "source_db": "src",
        "target_db": "dst",
        "sync_mode": "full",
        "created": "2029-01-01T00:00:00Z",
        "expires": "2031-01-01T00:00:00Z",
        "env": "prod",
        **predicate,
    }
    return InTotoStatement.model_validate(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [
                {"name": "snapshot.tar.gz", "digest": {"sha256": SNAP}},
                {"name": f"wal_files/{WAL1}", "digest": {"sha256": D1}},
            ],
            "predicateType": "https://migrationgate.io/replication/v1",
            "predicate": pred,
        }
    )


def manifest(**kw: Any) -> ReplicationManifest:
    base = {
        "source_db": "src",
        "target_db": "dst",
        "expected_snapshot_hash": "sha256:" + SNAP,
        "sync_mode": "full",
    }
    return ReplicationManifest.model_validate({**base, **kw})


def ids(reasons: list[Any]) -> list[tuple[str, str]]:
    return [(r.policy, r.field) for r in reasons]


# ---- validity window ----


def test_valid_statement_has_no_reasons() -> None:
    assert check_validity(statement().predicate, NOW) == []


@pytest.mark.parametrize("expires", ["2030-01-01T00:00:00Z", "2029-12-31T23:59:59+00:00"])
def test_expired_at_or_before_now(expires: str) -> None:
    [r] = check_validity(statement(expires=expires).predicate, NOW)
    assert (r.policy, r.field, r.severity) == ("signature-invalid", "predicate.expires", "critical")
    assert expires in r.message


def test_created_in_the_future() -> None:
    [r] = check_validity(statement(created="2030-01-01T00:00:01Z").predicate, NOW)
    assert (r.policy, r.field) == ("attestation-mismatch", "predicate.created")
    assert "future" in r.message


def test_expires_before_created() -> None:
    pred = statement(created="2029-06-01T00:00:00Z", expires="2029-01-01T00:00:00Z").predicate
    found = ids(check_validity(pred, NOW))
    assert ("attestation-mismatch", "predicate.expires") in found
    assert ("signature-invalid", "predicate.expires") in found


@pytest.mark.parametrize(
    ("value", "why"),
    [("yesterday", "not an RFC 3339"), ("2029-01-01T00:00:00", "no timezone"), ("", "RFC 3339")],
)
def test_unparseable_times_are_reasons_not_raises(value: str, why: str) -> None:
    ts, [r] = parse_time(value, field="predicate.created")
    assert ts is None and why in r.message
    assert (r.policy, r.file, r.field) == (
        "input-invalid",
        "snapshot.dsse.json",
        "predicate.created",
    )
    reasons = check_validity(statement(created=value, expires=value).predicate, NOW)
    assert {r.field for r in reasons} == {"predicate.created", "predicate.expires"}


def test_hostile_time_is_not_echoed_in_full() -> None:
    _, [r] = parse_time("x" * 10_000, field="predicate.created")
    assert len(r.message) < 200


# ---- identity and env ----


@pytest.mark.parametrize("key", ["source_db", "target_db", "sync_mode"])
def test_identity_field_differs(key: str) -> None:
    other = "incremental" if key == "sync_mode" else "elsewhere"
    [r] = check_identity(statement(**{key: other}).predicate, manifest())
    assert (r.policy, r.field) == ("attestation-mismatch", f"predicate.{key}")
    assert repr(other) in r.message


def test_identity_needs_a_valid_manifest() -> None:
    assert check_identity(statement(source_db="x").predicate, None) == []
    assert check_identity(statement().predicate, manifest()) == []


def test_env_is_the_doors() -> None:
    assert check_env(statement().predicate, "prod") == []
    [r] = check_env(statement().predicate, "staging")
    assert (r.policy, r.field, r.file) == ("env-mismatch", "predicate.env", "snapshot.dsse.json")


# ---- subjects ----


def test_duplicate_subject_names_are_ambiguous() -> None:
    st = statement()
    twice = InTotoStatement.model_validate(
        {
            **st.model_dump(by_alias=True),
            "subject": [
                {"name": "snapshot.tar.gz", "digest": {"sha256": SNAP}},
                {"name": "snapshot.tar.gz", "digest": {"sha256": "b" * 64}},
            ],
        }
    )
    subjects, [r] = subject_map(twice.subject)
    assert (r.policy, r.field) == ("attestation-mismatch", "subject[1].name")
    assert subjects["snapshot.tar.gz"] == {"sha256": SNAP}  # the first one, deterministically


def test_snapshot_subject_missing() -> None:
    [r] = check_snapshot_subject({}, expected=None, actual_sha256=None)
    assert "no subject named snapshot.tar.gz" in r.message


def test_snapshot_subject_matches() -> None:
    expected = parse_digest("sha256:" + SNAP, file="m", field="f")
    subj = {"snapshot.tar.gz": {"sha256": SNAP}}
    assert check_snapshot_subject(subj, expected=expected, actual_sha256=SNAP) == []


def test_snapshot_subject_differs_from_manifest() -> None:
    expected = parse_digest("sha256:" + "c" * 64, file="m", field="f")
    [r] = check_snapshot_subject(
        {"snapshot.tar.gz": {"sha256": SNAP}}, expected=expected, actual_sha256=None
    )
    assert "manifest expects" in r.message


def test_snapshot_subject_differs_from_file() -> None:
    [r] = check_snapshot_subject(
        {"snapshot.tar.gz": {"sha256": SNAP}}, expected=None, actual_sha256="d" * 64
    )
    assert "the file's is" in r.message


def test_snapshot_subject_in_the_manifests_algorithm() -> None:
    """A sha512 expected hash must be signed in sha512; the signed sha256 alone is not enough."""
    expected = parse_digest("sha512:" + "e" * 128, file="m", field="f")
    [r] = check_snapshot_subject(
        {"snapshot.tar.gz": {"sha256": SNAP}}, expected=expected, actual_sha256=SNAP
    )
    assert "sha512 is absent" in r.message


def test_snapshot_subject_with_weak_expected_is_not_compared_here() -> None:
    """md5 is snapshot-hash-unverifiable (compare step), not a subject mismatch."""
    expected = parse_digest("md5:" + "f" * 32, file="m", field="f")
    subj = {"snapshot.tar.gz": {"sha256": SNAP}}
    assert check_snapshot_subject(subj, expected=expected, actual_sha256=SNAP) == []
    assert hex_algorithm(expected) == "md5"


def test_wal_signed_but_not_listed() -> None:
    subj = {f"wal_files/{WAL1}": {"sha256": D1}, f"wal_files/{WAL2}": {"sha256": D2}}
    [r] = check_wal_subjects(subj, {WAL1: D1})
    assert f"signed WAL segment {WAL2} is not listed" in r.message


def test_wal_listed_but_not_signed() -> None:
    [r] = check_wal_subjects({f"wal_files/{WAL1}": {"sha256": D1}}, {WAL1: D1, WAL2: D2})
    assert f"WAL segment {WAL2} is listed in the manifest but not signed" in r.message


def test_wal_signed_without_sha256_is_not_signed() -> None:
    [r] = check_wal_subjects({f"wal_files/{WAL1}": {"sha512": D1 + D1}}, {WAL1: D1})
    assert "not signed" in r.message


def test_wal_signed_digest_differs() -> None:
    [r] = check_wal_subjects({f"wal_files/{WAL1}": {"sha256": D2}}, {WAL1: D1})
    assert "manifest expects" in r.message and r.policy == "attestation-mismatch"


def test_wal_subjects_agree() -> None:
    assert check_wal_subjects({f"wal_files/{WAL1}": {"sha256": D1}}, {WAL1: D1}) == []
    assert check_wal_subjects({"snapshot.tar.gz": {"sha256": SNAP}}, {}) == []


def test_check_statement_runs_every_rule() -> None:
    st = statement(expires="2029-06-01T00:00:00Z", source_db="other")
    reasons = check_statement(
        st,
        now=NOW,
        door="staging",
        manifest=manifest(),
        expected=None,
        snapshot_sha256="0" * 64,
        wal_declared={WAL2: D2},
    )
    assert {r.policy for r in reasons} == {
        "signature-invalid",
        "env-mismatch",
        "attestation-mismatch",
    }
    assert len(reasons) == 6  # expiry, env, source_db, snapshot, WAL1 unlisted, WAL2 unsigned
