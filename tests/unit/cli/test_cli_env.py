"""`validate --env`: the CLI door sets the target env (default prod), never the artifact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webhook.cli import build_parser, main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
STAGING = EXAMPLES / "t1_staging_warn"  # claims env: staging, unsigned
TRUST = str(EXAMPLES / "t1_good" / "trust")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = main(["validate", *argv, "--trust-dir", TRUST, "--output", "json"])
    return code, json.loads(capsys.readouterr().out)


def test_default_is_prod_whatever_the_artifact_says(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run(capsys, "migration", str(STAGING))
    assert code == 1 and doc["subject"]["env"] == "prod"  # type: ignore[index]
    assert "env-mismatch" in {r["policy"] for r in doc["reasons"]}  # type: ignore[attr-defined]


def test_env_staging_selects_staging(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run(capsys, "migration", str(STAGING), "--env", "staging")
    assert code == 0 and doc["decision"] == "ALLOW" and doc["subject"]["env"] == "staging"  # type: ignore[index]


def test_env_applies_to_replications(capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run(capsys, "replication", str(EXAMPLES / "t2_good"), "--env", "staging")
    assert code == 1 and doc["subject"]["env"] == "staging"  # type: ignore[index]
    assert "env-mismatch" in {r["policy"] for r in doc["reasons"]}  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["Staging", "qa", ""])
def test_unknown_env_is_a_usage_error(value: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate", "migration", str(STAGING), "--env", value])
    assert info.value.code == 2


def test_env_is_in_the_help_and_no_environment_variable_sets_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIGRATION_GATE_ENV", "staging")
    parser = build_parser()
    args = parser.parse_args(["validate", "migration", str(STAGING)])
    assert args.env == "prod"
    with pytest.raises(SystemExit):
        main(["validate", "migration", "--help"])
    help_text = capsys.readouterr().out
    assert "--env {prod,staging}" in help_text and "default: prod" in help_text


def test_env_choices_are_the_contract_envs() -> None:
    from webhook.cli import init, validate
    from webhook.contracts.env import ENVS

    assert validate.ENVS is ENVS and init.ENVS is ENVS
