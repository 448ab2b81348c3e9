"""The pipelines give CEL its variables: T1 config/manifest/subject/env, T2 archive/statement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webhook.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
DEFAULT = (ROOT / "webhook" / "policies" / "default.yaml").read_text()


def with_cel(tmp_path: Path, scenario: str, expression: str) -> Path:
    """The default bundle plus one CEL policy (enforce in prod)."""
    quoted = expression.replace("'", "''")
    path = tmp_path / "bundle.yaml"
    path.write_text(
        DEFAULT.rstrip("\n")
        + f"\n\n  - id: custom-rule\n    severity: high\n    scenarios: [{scenario}]\n"
        f"    expression: '{quoted}'\n    message: the custom rule says no\n"
        '    actions: {prod: enforce, staging: "off"}\n'
    )
    return path


def decide(
    folder: str, bundle: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, list[tuple[str, str]]]:
    scenario = "migration" if folder.startswith("t1") else "replication"
    main(
        [
            "validate",
            scenario,
            str(EXAMPLES / folder),
            "--output",
            "json",
            "--trust-dir",
            str(EXAMPLES / folder / "trust"),
            "--policy",
            str(bundle),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    return out["decision"], [(r["policy"], r["message"]) for r in out["reasons"]]


T1_TRUE = (
    "config.tls.enabled && manifest.version == '4.2.0' && subject.app_id == 'payments'"
    " && subject.version == '4.2.0' && env == 'prod'"
)
T2_TRUE = (
    "archive.members > 0 && archive.findings.size() == 0"
    " && archive.digests.sha256 == statement.subject[0].digest.sha256"
    " && statement.predicate.env == env && manifest.sync_mode == 'incremental'"
    " && subject.source_db == 'pg-payments-onprem'"
)


@pytest.mark.parametrize(("folder", "expression"), [("t1_good", T1_TRUE), ("t2_good", T2_TRUE)])
def test_the_pipeline_fills_every_variable(
    folder: str, expression: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = folder[:2].upper()
    assert decide(folder, with_cel(tmp_path, scenario, expression), capsys) == ("ALLOW", [])
    # and the same rule negated blocks with its id and message
    decision, reasons = decide(folder, with_cel(tmp_path, scenario, f"!({expression})"), capsys)
    assert decision == "BLOCK"
    assert ("custom-rule", "the custom rule says no") in reasons


def test_statement_is_null_when_the_attestation_does_not_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = with_cel(tmp_path, "T2", "statement == null")
    decision, reasons = decide("t2_bad_untrusted_signature", bundle, capsys)
    assert decision == "BLOCK"
    assert "custom-rule" not in {p for p, _ in reasons}
