"""Contract models: every missing, mistyped or unknown field is named precisely."""

from __future__ import annotations

from webhook.contracts.models import (
    AppConfig,
    InTotoStatement,
    MigrationManifest,
    ReplicationManifest,
    field_path,
    validate,
)

GOOD_MANIFEST = {"app_id": "payments", "env": "prod", "version": "4.2.0", "config_sha256": "a" * 64}


def test_good_manifest() -> None:
    model, problems = validate(MigrationManifest, GOOD_MANIFEST)
    assert problems == [] and model is not None and model.env == "prod"


def test_each_missing_field_is_named() -> None:
    for key in GOOD_MANIFEST:
        data = {k: v for k, v in GOOD_MANIFEST.items() if k != key}
        _, problems = validate(MigrationManifest, data)
        assert problems == [(key, "required field is missing")]


def test_env_is_case_sensitive() -> None:
    _, problems = validate(MigrationManifest, {**GOOD_MANIFEST, "env": "Prod"})
    assert problems == [("env", "must be 'prod' or 'staging' (found 'Prod')")]


def test_wrong_types_are_not_coerced() -> None:
    _, problems = validate(MigrationManifest, {**GOOD_MANIFEST, "version": 4})
    assert problems[0][0] == "version" and "found 4" in problems[0][1]
    _, problems = validate(MigrationManifest, {**GOOD_MANIFEST, "app_id": ""})
    assert problems[0][0] == "app_id"


def test_unknown_field_rejected() -> None:
    _, problems = validate(MigrationManifest, {**GOOD_MANIFEST, "approved": True})
    assert problems == [("approved", "unknown field (the contract is strict)")]


def test_uppercase_hash_rejected() -> None:
    _, problems = validate(MigrationManifest, {**GOOD_MANIFEST, "config_sha256": "A" * 64})
    assert problems[0][0] == "config_sha256"


def test_top_level_must_be_mapping() -> None:
    _, problems = validate(MigrationManifest, ["x"])
    assert problems == [("(document)", "expected a mapping at top level, found list")]


def test_app_config_keeps_unknown_keys_and_names_nested_fields() -> None:
    cfg = {
        "app_id": "payments",
        "env": "prod",
        "feature": {"x": 1},
        "ports": [{"port": 443}, {"port": 70000, "bind": 1}],
    }
    model, problems = validate(AppConfig, cfg)
    assert model is None
    fields = {f for f, _ in problems}
    assert fields == {"ports[1].port", "ports[1].bind"}
    model, problems = validate(AppConfig, {"app_id": "payments", "env": "prod", "feature": 1})
    assert problems == [] and model is not None and model.model_extra == {"feature": 1}


def test_replication_manifest_and_wal_names() -> None:
    base = {
        "source_db": "pg-a",
        "target_db": "pg-b",
        "expected_snapshot_hash": "sha256:" + "0" * 64,
        "sync_mode": "incremental",
    }
    assert validate(ReplicationManifest, base)[1] == []
    _, problems = validate(ReplicationManifest, {**base, "sync_mode": "async"})
    assert problems[0][0] == "sync_mode"
    _, problems = validate(
        ReplicationManifest, {**base, "wal_files": [{"name": "../etc/passwd", "sha256": "x"}]}
    )
    assert problems[0][0] == "wal_files[0].name"


def test_statement_requires_subject() -> None:
    stmt = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [],
        "predicateType": "https://migrationgate.io/replication/v1",
        "predicate": {
            "source_db": "a",
            "target_db": "b",
            "sync_mode": "full",
            "created": "2026-01-01T00:00:00Z",
            "expires": "2027-01-01T00:00:00Z",
        },
    }
    _, problems = validate(InTotoStatement, stmt)
    assert problems[0][0] == "subject"


def test_field_path() -> None:
    assert field_path(("ports", 1, "bind")) == "ports[1].bind"
    assert field_path(()) == "(document)"
