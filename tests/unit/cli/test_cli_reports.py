"""`validate --output sarif|junit`: CI annotations, valid against the same committed schemas as
`policy test`'s (tests/unit/policytest/schemas), for ALLOW, BLOCK and several folders."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from webhook.cli import main

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "tests" / "unit" / "policytest" / "schemas"
JUNIT_XSD = xmlschema.XMLSchema10(SCHEMAS / "junit-10.xsd")
SARIF_SCHEMA = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
EXAMPLES = ROOT / "examples"
GOOD, BAD, STAGING = (
    EXAMPLES / "t1_good",
    EXAMPLES / "t1_bad_public_port",
    EXAMPLES / "t1_staging_warn",
)
TRUST = ["--trust-dir", str(GOOD / "trust")]


def sarif(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["validate", *argv, *TRUST, "-o", "sarif"])
    log = json.loads(capsys.readouterr().out)
    jsonschema.validate(
        log,
        SARIF_SCHEMA,
        cls=jsonschema.Draft4Validator,
        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
    )
    return code, log


def test_sarif_locates_each_blocking_reason_at_its_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, log = sarif(capsys, "migration", "examples/t1_good", "examples/t1_bad_public_port")
    assert code == 1
    run = log["runs"][0]
    assert run["invocations"][0]["exitCode"] == 1
    results = run["results"]
    assert {r["ruleId"] for r in results} == {"no-public-bind"}
    assert {r["level"] for r in results} == {"error"}
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"examples/t1_bad_public_port/app-config.yaml"}
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["no-public-bind"]


def test_sarif_of_an_allow_with_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    code, log = sarif(capsys, "migration", str(STAGING), "--env", "staging")
    assert code == 0
    levels = {r["level"] for r in log["runs"][0]["results"]}
    assert "error" not in levels and {"warning", "note"} <= levels


def test_sarif_of_clean_allow_has_no_results(capsys: pytest.CaptureFixture[str]) -> None:
    code, log = sarif(capsys, "migration", str(GOOD))
    assert code == 0 and log["runs"][0]["results"] == []


def test_junit_one_case_per_folder_failed_when_blocked(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "migration", str(GOOD), str(BAD), *TRUST, "-o", "junit"])
    out = capsys.readouterr().out
    assert code == 1
    JUNIT_XSD.validate(out)
    root = ET.fromstring(out)
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [str(GOOD), str(BAD)]
    assert root.get("tests") == "2" and root.get("failures") == "1"
    failure = cases[1].find("failure")
    assert failure is not None and "[no-public-bind]" in (failure.get("message") or "")
    assert cases[0].find("failure") is None


def test_a_ci_report_is_written_even_when_no_folder_could_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["validate", "migration", str(tmp_path / "none"), "-o", "junit"])
    out = capsys.readouterr().out
    assert code == 2
    JUNIT_XSD.validate(out)
    assert ET.fromstring(out).get("tests") == "0"
