"""A malformed suite is exit 2 before any case runs, each problem naming file, field and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.policytest.conftest import EXAMPLES, good_case

Run = Callable[..., tuple[int, str, str]]
Suite = Callable[..., Path]


def malformed(run: Run, path: Path) -> str:
    code, out, err = run("policy", "test", path)
    assert code == 2, out + err
    assert out == ""  # nothing ran
    return err


def test_a_good_suite_passes(run: Run, suite: Suite) -> None:
    code, out, _ = run("policy", "test", suite("cases:\n" + good_case()))
    assert code == 0
    assert out.startswith("PASS ")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ("cases: []\n", "cases", "at least 1"),
        ("name: x\n", "cases", "Field required"),
        ("cases:\n" + good_case(env="production"), "cases[0].env", "'prod' or 'staging'"),
        ("cases:\n" + good_case(colour="red"), "cases[0].colour", "Extra inputs"),
        ("cases:\n" + good_case() + good_case(), "cases[1].name", "duplicate case name 'good'"),
        ("cases:\n  - name: x\n    expect: {decision: ALLOW}\n", "cases[0]", "input folder"),
        ("cases:\n" + good_case(scenario="backup"), "cases[0].scenario", "'migration'"),
        ("cases:\n  - name: x\n    input: .\n", "cases[0].expect", "Field required"),
        ("colour: red\ncases:\n" + good_case(), "colour", "Extra inputs"),
        ("cases:\n" + good_case(bundle="nope.yaml"), "cases[0].bundle", "does not exist"),
        ("cases:\n" + good_case(trust_dir="nope"), "cases[0].trust_dir", "does not exist"),
    ],
    ids=[
        "no-cases",
        "missing-cases",
        "bad-env",
        "unknown-key",
        "duplicate-name",
        "no-input",
        "bad-scenario",
        "missing-expect",
        "unknown-top-key",
        "missing-bundle",
        "missing-trust-dir",
    ],
)
def test_malformed_suite_names_file_and_field(
    run: Run, suite: Suite, body: str, field: str, words: str
) -> None:
    path = suite(body)
    err = malformed(run, path)
    line = next(x for x in err.splitlines() if x.startswith(str(path)))
    assert f": {field}: " in line, err
    assert words in line, err


def test_missing_input_folder(run: Run, suite: Suite) -> None:
    body = "cases:\n  - name: gone\n    input: no/such/folder\n    expect: {decision: BLOCK}\n"
    path = suite(body)
    err = malformed(run, path)
    assert f"{path}:5: cases[0].input: input folder" in err
    assert "does not exist" in err


def test_a_bad_expect_decision_is_named(run: Run, suite: Suite) -> None:
    body = good_case().replace("decision: ALLOW", "decision: allow")
    err = malformed(run, suite("cases:\n" + body))
    assert "cases[0].expect.decision" in err and "'ALLOW' or 'BLOCK'" in err


def test_wrong_types_are_not_coerced(run: Run, suite: Suite) -> None:
    """strict: `present: tls-required` (a string, not a list) is refused, not split."""
    body = good_case().replace("decision: ALLOW", "decision: ALLOW\n      present: tls-required")
    err = malformed(run, suite("cases:\n" + body))
    assert "cases[0].expect.present" in err


def test_inconsistent_expectations_are_refused(run: Run, suite: Suite) -> None:
    body = good_case().replace(
        "decision: ALLOW", "decision: ALLOW\n      present: [a]\n      absent: [a]"
    )
    err = malformed(run, suite("cases:\n" + body))
    assert "cases[0].expect" in err and "both present and absent: a" in err
    body = good_case().replace("decision: ALLOW", "decision: BLOCK\n      reasons: []")
    assert "at least one blocking reason" in malformed(run, suite("cases:\n" + body))


def test_unknown_inline_file_is_refused(run: Run, suite: Suite) -> None:
    body = (
        "cases:\n  - name: x\n    inputs: {snapshot.tar.gz: abc}\n    expect: {decision: BLOCK}\n"
    )
    err = malformed(run, suite(body))
    assert "cases[0]" in err and "unknown file 'snapshot.tar.gz'" in err


def test_undecidable_scenario_is_refused(run: Run, suite: Suite) -> None:
    body = (
        "cases:\n  - name: x\n    inputs: {app-config.yaml: 'a: 1'}\n"
        "    expect: {decision: BLOCK}\n"
    )
    err = malformed(run, suite(body))
    assert "cases[0].scenario: cannot tell migration from replication" in err


def test_wrong_api_version_and_kind(run: Run, suite: Suite) -> None:
    path = suite("cases:\n" + good_case(), head="apiVersion: v2\nkind: Suite\n")
    err = malformed(run, path)
    assert f"{path}:1: apiVersion:" in err
    assert f"{path}:2: kind:" in err


def test_invalid_yaml_and_duplicate_keys(run: Run, suite: Suite) -> None:
    err = malformed(run, suite("cases: [\n"))
    assert "invalid YAML" in err
    err = malformed(run, suite("cases:\n" + good_case() + "cases: []\n"))
    assert "duplicate key 'cases'" in err


def test_every_malformed_suite_is_reported_and_none_runs(
    run: Run, suite: Suite, tmp_path: Path
) -> None:
    suite("cases:\n" + good_case(), name="a_good.yaml")
    suite("cases:\n" + good_case(env="qa"), name="b_bad.yaml")
    suite("nothing: here\n", name="c_bad.yaml")
    err = malformed(run, tmp_path)
    assert "b_bad.yaml" in err and "c_bad.yaml" in err and "a_good.yaml" not in err


def test_a_broken_bundle_is_malformed_not_failed(run: Run, suite: Suite, tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text(
        "apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies: []\n"
    )
    err = malformed(run, suite("bundle: bundle.yaml\ncases:\n" + good_case()))
    assert "bundle.yaml: policies: must list at least one policy" in err


def test_directory_walk_skips_bundles_and_artifacts(run: Run, suite: Suite, tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_bytes(
        (EXAMPLES.parent / "webhook/policies/default.yaml").read_bytes()
    )
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "app-config.yaml").write_text("app_id: x\n")
    suite("bundle: bundle.yaml\ncases:\n" + good_case())
    code, out, err = run("policy", "test", tmp_path)
    assert code == 0, err
    assert "1 case(s) in 1 suite(s)" in out


def test_no_suites_is_an_error(run: Run, tmp_path: Path) -> None:
    code, _, err = run("policy", "test", tmp_path)
    assert code == 2 and "no suites found" in err
    code, _, err = run("policy", "test", tmp_path / "nope.yaml")
    assert code == 2 and "no such file or directory" in err


def test_suite_size_is_bounded(run: Run, suite: Suite) -> None:
    path = suite("cases:\n" + good_case() + "# " + "x" * (1024 * 1024) + "\n")
    assert "byte limit" in malformed(run, path)


def test_the_shipped_suite_json_schema_is_the_models() -> None:
    """schemas/policy-test-suite.schema.json (for editors) is generated from the models."""
    import json

    from tests.unit.policytest.conftest import ROOT
    from webhook.policytest.model import Suite

    path = ROOT / "webhook/policytest/schemas/policy-test-suite.schema.json"
    shipped = json.loads(path.read_text())
    generated = Suite.model_json_schema(by_alias=True)
    assert {k: v for k, v in shipped.items() if k not in ("$schema", "title")} == {
        k: v for k, v in generated.items() if k != "title"
    }, "regenerate: Suite.model_json_schema(by_alias=True)"


def test_the_shipped_suites_validate_against_the_json_schema() -> None:
    import json

    import jsonschema

    from tests.unit.policytest.conftest import ROOT, SHIPPED
    from webhook.contracts.strict import load_yaml

    schema = json.loads(
        (ROOT / "webhook/policytest/schemas/policy-test-suite.schema.json").read_text()
    )
    for path in sorted(SHIPPED.glob("custom-cel.yaml")) + sorted(SHIPPED.glob("e*.yaml")):
        jsonschema.validate(load_yaml(path.read_bytes(), source=str(path)), schema)
