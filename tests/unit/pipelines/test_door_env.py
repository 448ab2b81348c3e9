"""Issue 11 items 1 and 2: the door sets the env, and prod always needs trusted keys.

Each test here failed before the change: the env was read from the unsigned artifact (so
`env: staging` selected staging's actions for a prod target) and an empty trust store switched
signature enforcement off.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from webhook.artifacts import migration_inputs, replication_inputs
from webhook.contracts.decision import Decision
from webhook.contracts.models import INTOTO_PAYLOAD_TYPE
from webhook.errors import ConfigError
from webhook.integrity import TrustStore, envelope_json, load_private_key_pem, sign_envelope
from webhook.pipelines import Engine
from webhook.pipelines.claims import TRUST_HELP, env_claim, env_field, trust_configured
from webhook.policies import default_bundle, load_bundle

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SIGNER = EXAMPLES / "keys" / "signer.TEST-ONLY.key"


def policies(d: Decision) -> set[str]:
    return {r.policy for r in d.reasons}


def to_staging_unsigned(folder: Path) -> None:
    """The attack of item 2: drop the signature and write env: staging everywhere."""
    cfg = (folder / "app-config.yaml").read_bytes().replace(b"env: prod", b"env: staging")
    cfg = cfg.replace(b"enabled: true", b"enabled: false")  # staging only warns on this
    (folder / "app-config.yaml").write_bytes(cfg)
    m = json.loads((folder / "migration_manifest.json").read_text())
    m.update(env="staging", config_sha256=hashlib.sha256(cfg).hexdigest())
    (folder / "migration_manifest.json").write_text(json.dumps(m))
    (folder / "migration_manifest.dsse.json").unlink()


# ---- the pure step functions ----


def test_env_claim_names_file_field_and_both_values() -> None:
    [reason] = env_claim("staging", door="prod", file="a.json", field="env")
    assert (reason.policy, reason.file, reason.field) == ("env-mismatch", "a.json", "env")
    assert "'staging'" in reason.message and "prod door" in reason.message


@pytest.mark.parametrize("claimed", ["prod", None, "Prod", 1, ["staging"]])
def test_env_claim_only_compares_well_formed_claims(claimed: object) -> None:
    assert env_claim(claimed, door="prod", file="f") == []


def test_env_field_absent_claims_nothing() -> None:
    assert env_field({"source_db": "x"}, door="staging", file="f") == []
    assert env_field(["env", "prod"], door="staging", file="f") == []
    assert [r.policy for r in env_field({"env": "prod"}, door="staging", file="f")] == [
        "env-mismatch"
    ]


def test_trust_configured() -> None:
    assert trust_configured("prod", 1) == []
    assert trust_configured("staging", 0) == []
    [reason] = trust_configured("prod", 0)
    assert reason.policy == "trust-store-empty" and reason.message == TRUST_HELP
    assert "--trust-dir" in TRUST_HELP and "MIGRATION_GATE_TRUST_DIR" in TRUST_HELP
    assert "trustedKeys" in TRUST_HELP


# ---- T1 through the engine ----


def test_staging_claim_through_the_prod_door_blocks(engine: Engine, t1: Path) -> None:
    to_staging_unsigned(t1)
    d = engine.validate_migration(migration_inputs(t1))  # the default door is prod
    assert d.decision == "BLOCK" and d.subject["env"] == "prod"
    mism = {(r.file, r.field) for r in d.reasons if r.policy == "env-mismatch"}
    assert mism == {("migration_manifest.json", "env"), ("app-config.yaml", "env")}
    # policies ran for prod: tls-required enforces, the missing signature enforces
    assert {"tls-required", "signature-required"} <= policies(d)
    assert not d.warnings


def test_the_same_artifact_through_the_staging_door_is_staging(engine: Engine, t1: Path) -> None:
    to_staging_unsigned(t1)
    d = engine.validate_migration(migration_inputs(t1), env="staging")
    assert d.decision == "ALLOW", [r.line() for r in d.reasons]
    assert d.subject["env"] == "staging"
    assert {w.policy for w in d.warnings} == {"tls-required"}


@pytest.mark.parametrize("door", ["Staging", "STAGING", "", "dev", "staging "])
def test_anything_but_staging_is_prod(engine: Engine, t1: Path, door: str) -> None:
    d = engine.validate_migration(migration_inputs(t1), env=door)  # type: ignore[arg-type]
    assert d.decision == "ALLOW" and d.subject["env"] == "prod"


def test_prod_artifact_through_staging_door_blocks(engine: Engine, t1: Path) -> None:
    d = engine.validate_migration(migration_inputs(t1), env="staging")
    assert policies(d) == {"env-mismatch"}
    assert d.subject["env"] == "staging"
    assert {r.file for r in d.reasons} == {"migration_manifest.json", "app-config.yaml"}


def test_config_env_alone_differs(engine: Engine, t1: Path) -> None:
    cfg = (t1 / "app-config.yaml").read_bytes().replace(b"env: prod", b"env: staging")
    (t1 / "app-config.yaml").write_bytes(cfg)
    m = json.loads((t1 / "migration_manifest.json").read_text())
    m["config_sha256"] = hashlib.sha256(cfg).hexdigest()
    (t1 / "migration_manifest.json").write_text(json.dumps(m))
    (t1 / "migration_manifest.dsse.json").unlink()
    d = engine.validate_migration(migration_inputs(t1))
    [r] = [r for r in d.reasons if r.policy == "env-mismatch"]
    assert (r.file, r.field) == ("app-config.yaml", "env")
    assert "config-identity-mismatch" not in policies(d)


# ---- trust ----


def test_empty_trust_store_blocks_every_prod_decision(t1: Path, t2: Path) -> None:
    engine = Engine.load()  # no --trust-dir at all
    for d in (
        engine.validate_migration(migration_inputs(t1)),
        engine.validate_replication(replication_inputs(t2)),
    ):
        assert d.decision == "BLOCK"
        assert "trust-store-empty" in policies(d)


def test_empty_trust_store_blocks_an_unsigned_prod_manifest(t1: Path, tmp_path: Path) -> None:
    (t1 / "migration_manifest.dsse.json").unlink()
    empty = tmp_path / "trust"
    empty.mkdir()
    engine = Engine(default_bundle(), TrustStore.from_dir(empty))
    d = engine.validate_migration(migration_inputs(t1))
    assert {"trust-store-empty", "signature-required"} <= policies(d)


def test_staging_without_trust_keeps_its_bundle_action(t1: Path) -> None:
    to_staging_unsigned(t1)
    d = Engine.load().validate_migration(migration_inputs(t1), env="staging")
    assert d.decision == "ALLOW", [r.line() for r in d.reasons]
    assert "trust-store-empty" not in {r.policy for r in d.audited}


def _bundle(prod_action: str) -> bytes:
    return (
        "apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n"
        "  - id: my-signatures\n    check: signature-required\n    severity: critical\n"
        f"    description: x\n    actions: {{prod: {prod_action}, staging: audit}}\n"
    ).encode()


@pytest.mark.parametrize("action", ["warn", "audit", '"off"'])
def test_bundle_cannot_loosen_signatures_in_prod(action: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_bundle(_bundle(action), source="b.yaml")
    assert "my-signatures" in err.value.message
    assert err.value.field == "policies[0].actions.prod"


def test_bundle_without_signature_required_is_refused() -> None:
    bundle = load_bundle(
        b"apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n"
        b"  - {id: t, check: tls-required, severity: high, description: x,"
        b" actions: {prod: enforce, staging: warn}}\n",
        source="b.yaml",
    )
    with pytest.raises(ConfigError, match="signature-required"):
        Engine(bundle, TrustStore.empty())
    assert Engine(load_bundle(_bundle("enforce"), source="b.yaml"), TrustStore.empty())


# ---- T2: the manifest's claim and the signed predicate ----


def resign(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Edit the attestation's statement and sign it again with the trusted test key."""
    envelope = json.loads((folder / "snapshot.dsse.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    edit(statement)
    payload = json.dumps(statement, sort_keys=True).encode()
    key = load_private_key_pem(SIGNER.read_bytes(), file=str(SIGNER))
    signed = sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [key])
    (folder / "snapshot.dsse.json").write_bytes(envelope_json(signed))


def test_t2_manifest_claim_differs_from_door(engine: Engine, t2: Path) -> None:
    d = engine.validate_replication(replication_inputs(t2), env="staging")
    assert d.subject["env"] == "staging"
    found = {(r.file, r.field) for r in d.reasons if r.policy == "env-mismatch"}
    assert found == {
        ("replication_manifest.yaml", "env"),
        ("snapshot.dsse.json", "predicate.env"),
    }


def test_t2_signed_env_binds_even_without_a_manifest_claim(engine: Engine, t2: Path) -> None:
    text = (t2 / "replication_manifest.yaml").read_text().replace("env: prod\n", "")
    (t2 / "replication_manifest.yaml").write_text(text)
    assert engine.validate_replication(replication_inputs(t2)).decision == "ALLOW"
    d = engine.validate_replication(replication_inputs(t2), env="staging")
    [r] = d.reasons
    assert (r.policy, r.file, r.field) == ("env-mismatch", "snapshot.dsse.json", "predicate.env")


def test_t2_statement_without_env_blocks(engine: Engine, t2: Path) -> None:
    resign(t2, lambda s: s["predicate"].pop("env"))
    d = engine.validate_replication(replication_inputs(t2))
    [r] = d.reasons
    assert (r.policy, r.field) == ("attestation-mismatch", "payload.predicate.env")
    assert "missing" in r.message


def test_t2_statement_signed_for_staging_blocks_in_prod(engine: Engine, t2: Path) -> None:
    resign(t2, lambda s: s["predicate"].update(env="staging"))
    d = engine.validate_replication(replication_inputs(t2))
    [r] = d.reasons
    assert (r.policy, r.field) == ("env-mismatch", "predicate.env")
