"""A finding that did not block says so: warn and audit findings are worded as what they are.

Checks word each finding as a requirement ("staging requires ..."); next to an ALLOW that reads
as a refusal. Through the Engine, on copies of the real examples.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from webhook.artifacts import migration_inputs
from webhook.pipelines import Engine
from webhook.pipelines.report import worded

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_staging_warn_and_audit_findings_say_they_did_not_block(engine: Engine) -> None:
    decision = engine.validate_migration(
        migration_inputs(EXAMPLES / "t1_staging_warn"), env="staging"
    )
    assert decision.decision == "ALLOW" and decision.reasons == ()
    [warning] = decision.warnings
    assert warning.policy == "tls-min-version"
    assert warning.message == (
        'warning in staging (not enforced): expected tls.min_version: "1.2" or higher (found "1.1")'
    )
    [audited] = decision.audited
    assert audited.policy == "signature-required"
    assert audited.message.startswith(
        "audit-only in staging (recorded, not enforced): expected a DSSE signature over "
        "migration_manifest.json"
    )
    for reason in (*decision.warnings, *decision.audited):
        assert "staging requires" not in reason.message


def test_a_forbidding_check_in_staging_is_flagged_not_forbidden(tmp_path: Path) -> None:
    folder = tmp_path / "public"
    folder.mkdir()
    config = (EXAMPLES / "t1_bad_public_port" / "app-config.yaml").read_bytes()
    config = config.replace(b"env: prod", b"env: staging")
    (folder / "app-config.yaml").write_bytes(config)
    manifest = json.loads((EXAMPLES / "t1_bad_public_port" / "migration_manifest.json").read_text())
    manifest.update(env="staging", config_sha256=hashlib.sha256(config).hexdigest())
    (folder / "migration_manifest.json").write_text(json.dumps(manifest))
    decision = Engine.load().validate_migration(migration_inputs(folder), env="staging")
    assert decision.decision == "ALLOW", [r.line() for r in decision.reasons]
    messages = [w.message for w in decision.warnings if w.policy == "no-public-bind"]
    assert messages and all(
        m.startswith("warning in staging (not enforced): flagged ") for m in messages
    ), messages


def test_enforced_findings_keep_their_wording(engine: Engine) -> None:
    decision = engine.validate_migration(migration_inputs(EXAMPLES / "t1_bad_tls_disabled"))
    [reason] = decision.reasons
    assert reason.message == "prod requires tls.enabled: true (found false)"


def test_worded_other_messages_get_the_label() -> None:
    assert worded("a CEL policy said no", action="audit", env="staging") == (
        "audit-only in staging (recorded, not enforced): a CEL policy said no"
    )
    assert worded("prod requires x", action="enforce", env="prod") == "prod requires x"
