"""Cases run through the Engine every door uses; a case that differs fails by name (exit 1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.policytest.conftest import EXAMPLES, good_case
from webhook.contracts.decision import Decision, Reason
from webhook.policytest.model import Expect
from webhook.policytest.runner import compare

Run = Callable[..., tuple[int, str, str]]
Suite = Callable[..., Path]

T1_BAD = EXAMPLES / "t1_bad_privileged"


def bad_case(name: str, expect: str) -> str:
    return (
        f"  - name: {name}\n    input: {T1_BAD}\n    trust_dir: {T1_BAD / 'trust'}\n"
        f"    expect:\n{expect}"
    )


def test_a_failing_case_is_exit_1_and_named(run: Run, suite: Suite) -> None:
    body = "cases:\n" + good_case() + bad_case("privileged allowed?", "      decision: ALLOW\n")
    path = suite(body)
    code, out, _ = run("policy", "test", path)
    assert code == 1
    fail = [x for x in out.splitlines() if x.startswith("FAIL ")]
    assert fail == [f"FAIL {path}:9: privileged allowed? [migration prod] BLOCK"]
    assert "    decision: expected ALLOW, got BLOCK" in out
    assert "[no-privileged]" in out  # the findings are shown under a failed case
    assert out.splitlines()[-1].endswith("1 passed, 1 failed")


def test_present_absent_and_exact_sets(run: Run, suite: Suite) -> None:
    expect = (
        "      decision: BLOCK\n      present: [no-privileged, tls-required]\n"
        "      absent: [no-root]\n      reasons: [no-privileged]\n"
    )
    code, out, _ = run("policy", "test", suite("cases:\n" + bad_case("sets", expect)))
    assert code == 1
    assert "present: tls-required is not among the findings (found: no-privileged, no-root)" in out
    assert "absent: no-root was found (enforce): app-config.yaml: security.run_as_root" in out
    assert "reasons: unexpected no-root" in out


def test_the_same_engine_as_the_cli_door(run: Run, suite: Suite) -> None:
    """The case's decision equals `validate migration`'s for the same folder and trust."""
    import json

    code, out, _ = run(
        "validate", "migration", T1_BAD, "--trust-dir", T1_BAD / "trust", "--output", "json"
    )
    cli = json.loads(out)
    expect = "      decision: BLOCK\n"
    code, out, _ = run(
        "policy", "test", "--output", "json", suite("cases:\n" + bad_case("x", expect))
    )
    case = json.loads(out)["suites"][0]["cases"][0]
    assert code == 0
    assert [r["policy"] for r in case["reasons"]] == [r["policy"] for r in cli["reasons"]]
    assert case["policy_bundle"] == cli["policy_bundle"]


def test_inline_inputs_override_and_null_removes(run: Run, suite: Suite) -> None:
    """t1_good without its signature (null) is BLOCKed in prod with signature-required."""
    body = "cases:\n" + good_case("unsigned").replace(
        "    expect:\n      decision: ALLOW",
        "    inputs: {migration_manifest.dsse.json: null}\n"
        "    expect:\n      decision: BLOCK\n      reasons: [signature-required]",
    )
    code, out, err = run("policy", "test", suite(body))
    assert code == 0, out + err


def test_inline_config_that_breaks_the_pinned_hash(run: Run, suite: Suite) -> None:
    body = "cases:\n" + good_case("edited").replace(
        "    expect:\n      decision: ALLOW",
        "    inputs:\n      app-config.yaml: 'app_id: payments'\n"
        "    expect:\n      decision: BLOCK\n      present: [config-hash-mismatch]",
    )
    code, out, err = run("policy", "test", suite(body))
    assert code == 0, out + err


def test_replication_folder_and_inline_wal(run: Run, suite: Suite) -> None:
    good = EXAMPLES / "t2_good"
    segments = sorted(p.name for p in (good / "wal_files").iterdir())
    body = (
        f"cases:\n  - name: t2 good\n    input: {good}\n    trust_dir: {good / 'trust'}\n"
        "    expect: {decision: ALLOW}\n"
        f"  - name: t2 wal edited\n    input: {good}\n    trust_dir: {good / 'trust'}\n"
        f"    inputs: {{wal_files/{segments[0]}: 'tampered'}}\n"
        "    expect: {decision: BLOCK, present: [wal-integrity]}\n"
    )
    code, out, err = run("policy", "test", suite(body))
    assert code == 0, out + err


def test_suite_bundle_applies_to_its_cases(run: Run, suite: Suite, tmp_path: Path) -> None:
    """A bundle that turns no-privileged off in prod lets the privileged example through it."""
    default = (EXAMPLES.parent / "webhook/policies/default.yaml").read_text()
    loose = default.replace(
        "security.privileged must be false.\n    # enforced in staging too: privileged mode is "
        "host access, and staging clusters are shared.\n    actions: {prod: enforce, staging: "
        "enforce}",
        "security.privileged must be false.\n    actions: {prod: warn, staging: enforce}",
    )
    assert loose != default
    (tmp_path / "loose.yaml").write_text(loose)
    expect = "      decision: BLOCK\n      reasons: [no-root]\n      warnings: [no-privileged]\n"
    code, out, err = run(
        "policy", "test", suite("bundle: loose.yaml\ncases:\n" + bad_case("loose", expect))
    )
    assert code == 0, out + err


def _decision(verdict: str, reasons: list[str], warnings: list[str]) -> Decision:
    def r(pid: str, action: str) -> Reason:
        return Reason(policy=pid, severity="high", field="f", message="m", action=action)  # type: ignore[arg-type]

    return Decision(
        request_id="r",
        timestamp="t",
        scenario="T1",
        decision=verdict,  # type: ignore[arg-type]
        reasons=tuple(r(p, "enforce") for p in reasons),
        warnings=tuple(r(p, "warn") for p in warnings),
        policy_bundle="sha256:" + "0" * 64,
    )


@pytest.mark.parametrize(
    ("expect", "failures"),
    [
        ({"decision": "ALLOW"}, []),
        ({"decision": "BLOCK"}, ["decision: expected BLOCK, got ALLOW"]),
        ({"decision": "ALLOW", "warnings": []}, ["warnings: unexpected w"]),
        ({"decision": "ALLOW", "warnings": ["w", "v"]}, ["warnings: missing v"]),
        ({"decision": "ALLOW", "present": ["w"]}, []),
        ({"decision": "ALLOW", "absent": ["w"]}, ["absent: w was found (warn): f: [w] m"]),
    ],
)
def test_compare(expect: dict[str, object], failures: list[str]) -> None:
    assert compare(Expect.model_validate(expect), _decision("ALLOW", [], ["w"])) == failures
