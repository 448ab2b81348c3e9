"""Each output format of `policy test` is valid against its schema, passing run or failing."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import xmlschema

from tests.unit.policytest.conftest import EXAMPLES, SCHEMAS, SHIPPED, good_case
from webhook.policytest.reporters.junit import clean

Run = Callable[..., tuple[int, str, str]]
Suite = Callable[..., Path]

JUNIT_XSD = xmlschema.XMLSchema10(SCHEMAS / "junit-10.xsd")
SARIF_SCHEMA = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
REPORT_SCHEMA = json.loads(
    (EXAMPLES.parent / "webhook/policytest/schemas/policy-test-report.schema.json").read_text()
)
T1_BAD = EXAMPLES / "t1_bad_privileged"


@pytest.fixture
def mixed(suite: Suite) -> Path:
    """One passing case, one failing case whose name holds characters XML 1.0 cannot carry."""
    failing = (
        f'  - name: "fails \\x01 <&> \\u00e9"\n    input: {T1_BAD}\n'
        f"    trust_dir: {T1_BAD / 'trust'}\n    env: prod\n"
        "    expect: {decision: ALLOW, absent: [no-root]}\n"
    )
    return suite("name: mixed\ncases:\n" + good_case() + failing)


def test_the_schemas_are_the_published_ones() -> None:
    assert SARIF_SCHEMA["id"].endswith("/sarif-schema-2.1.0.json")
    assert "2.1.0" in SARIF_SCHEMA["title"]
    jsonschema.Draft4Validator.check_schema(SARIF_SCHEMA)
    jsonschema.Draft202012Validator.check_schema(REPORT_SCHEMA)


@pytest.mark.parametrize("which", ["shipped", "mixed"])
def test_junit_is_valid_against_the_xsd(run: Run, mixed: Path, which: str) -> None:
    target = SHIPPED if which == "shipped" else mixed
    code, out, err = run("policy", "test", "--output", "junit", target)
    assert code == (0 if which == "shipped" else 1), err
    JUNIT_XSD.validate(out)
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert int(root.get("tests", "-1")) == len(cases) > 0
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(root.get("failures", "-1")) == len(failed)
    if which == "mixed":
        assert [c.get("name") for c in failed] == ["fails \ufffd <&> \u00e9 [prod]"]
        failure = failed[0].find("failure")
        assert failure is not None
        assert "decision: expected ALLOW, got BLOCK" in (failure.get("message") or "")
        assert "absent: no-root was found" in (failure.text or "")


def test_junit_rejects_nothing_it_cannot_carry() -> None:
    assert clean("a\x00b\x1bc\ud800d\ufffee\tf\n") == "a\ufffdb\ufffdc\ufffdd\ufffde\tf\n"


@pytest.mark.parametrize("which", ["shipped", "mixed"])
def test_sarif_is_valid_against_the_official_schema(run: Run, mixed: Path, which: str) -> None:
    target = SHIPPED if which == "shipped" else mixed
    code, out, _ = run("policy", "test", "--output", "sarif", target)
    log = json.loads(out)
    jsonschema.validate(
        log,
        SARIF_SCHEMA,
        cls=jsonschema.Draft4Validator,
        format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER,
    )
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    failed = [r for r in results if r["kind"] == "fail"]
    assert log["runs"][0]["invocations"][0]["exitCode"] == code
    if which == "mixed":
        assert len(results) == 2 and len(failed) == 1
        location = failed[0]["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == mixed.as_uri()
        assert location["region"]["startLine"] == 10
        assert failed[0]["level"] == "error"
        assert "decision: expected ALLOW, got BLOCK" in failed[0]["message"]["text"]
    else:
        assert code == 0 and not failed and len(results) > 40


def test_sarif_relative_uri_is_a_uri_reference(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES.parent)
    code, out, _ = run("policy", "test", "--output", "sarif", "webhook/policies/tests/envs.yaml")
    uri = json.loads(out)["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"
    ]["uri"]
    assert code == 0 and uri == "webhook/policies/tests/envs.yaml"


@pytest.mark.parametrize("which", ["shipped", "mixed"])
def test_json_is_valid_against_its_schema(run: Run, mixed: Path, which: str) -> None:
    target = SHIPPED if which == "shipped" else mixed
    code, out, _ = run("policy", "test", "--output", "json", target)
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA, cls=jsonschema.Draft202012Validator)
    summary = report["summary"]
    assert summary["passed"] + summary["failed"] == summary["cases"]
    assert code == (1 if summary["failed"] else 0)
    if which == "mixed":
        failed = [c for s in report["suites"] for c in s["cases"] if not c["passed"]]
        assert [c["name"] for c in failed] == ["fails \x01 <&> \u00e9"]
        assert failed[0]["failures"][0] == "decision: expected ALLOW, got BLOCK"


def test_text_summary_line(run: Run, mixed: Path) -> None:
    code, out, _ = run("policy", "test", mixed)
    assert code == 1
    assert out.splitlines()[-1] == "2 case(s) in 1 suite(s): 1 passed, 1 failed"


def test_text_escapes_control_characters(run: Run, mixed: Path) -> None:
    _, out, _ = run("policy", "test", mixed)
    assert "\x01" not in out
    assert "fails \\x01 <&> \u00e9 [migration prod] BLOCK" in out
