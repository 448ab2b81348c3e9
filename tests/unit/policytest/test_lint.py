"""`policy lint` reports every problem of a bundle by file, field and line; 0 clean, 1, 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.unit.policytest.conftest import ROOT

Run = Callable[..., tuple[int, str, str]]
DEFAULT = ROOT / "webhook" / "policies" / "default.yaml"
HEAD = "apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n"
SIGNATURE = (
    "  - id: signature-required\n    check: signature-required\n    severity: critical\n"
    "    description: signed.\n    actions: {prod: enforce, staging: audit}\n"
)


def entry(pid: str, check: str | None = None, prod: str = "enforce") -> str:
    return (
        f"  - id: {pid}\n    check: {check or pid}\n    severity: high\n"
        f"    description: x.\n    actions: {{prod: {prod}, staging: warn}}\n"
    )


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bundle.yaml"
    path.write_text(HEAD + body)
    return path


def test_the_default_bundle_is_clean(run: Run) -> None:
    code, out, _ = run("policy", "lint", DEFAULT)
    assert code == 0
    assert out.startswith(f"{DEFAULT}: ok (10 policies, sha256:")


def test_every_problem_is_reported_with_field_and_line(run: Run, tmp_path: Path) -> None:
    body = (
        SIGNATURE
        + entry("tls-required")  # policies[1], line 9
        + entry("typo", check="tls-requird")  # policies[2], line 14
        + entry("no-root", prod="block")  # policies[3], line 19
        + entry("tls-required")  # policies[4], line 24: reused id
    )
    path = write(tmp_path, body)
    code, out, _ = run("policy", "lint", path)
    assert code == 1
    lines = out.splitlines()
    assert lines[-1] == "3 problem(s)"
    assert lines[0].startswith(f"{path}:15: policies[2].check: unknown check 'tls-requird'")
    assert lines[1] == (
        f"{path}:23: policies[3].actions.prod: must be one of enforce, warn, audit, off "
        "(found 'block')"
    )
    assert lines[2] == (
        f"{path}:24: policies[4].id: duplicate policy id 'tls-required' (first at policies[1])"
    )


def test_prod_must_enforce_the_signature(run: Run, tmp_path: Path) -> None:
    path = write(tmp_path, SIGNATURE.replace("prod: enforce", "prod: warn"))
    code, out, _ = run("policy", "lint", path)
    assert code == 1 and "policies[0].actions.prod: policy 'signature-required'" in out


def test_a_bundle_without_signature_required_is_refused(run: Run, tmp_path: Path) -> None:
    """A whole-bundle rule (the Engine's), found although every entry is fine on its own."""
    code, out, _ = run("policy", "lint", write(tmp_path, entry("tls-required")))
    assert code == 1 and "policies: the bundle has no signature-required policy" in out


def test_top_level_and_yaml_problems(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("apiVersion: v0\nkind: PolicyBundle\npolicies: []\n")
    code, out, _ = run("policy", "lint", path)
    assert code == 1 and f"{path}:1: apiVersion: must be migrationgate.io/policy/v1" in out
    path.write_text("policies: [\n")
    code, out, _ = run("policy", "lint", path)
    assert code == 1 and "invalid YAML" in out


def test_unreadable_is_exit_2(run: Run, tmp_path: Path) -> None:
    code, _, err = run("policy", "lint", tmp_path / "missing.yaml")
    assert code == 2 and "missing.yaml: no such file" in err
    code, _, err = run("policy", "lint", tmp_path)
    assert code == 2 and "is a directory" in err


def test_json_output(run: Run, tmp_path: Path) -> None:
    bad = write(tmp_path, SIGNATURE + entry("x", check="nope"))
    code, out, _ = run("policy", "lint", "--output", "json", DEFAULT, bad)
    assert code == 1
    files = json.loads(out)["files"]
    assert files[0]["ok"] and files[0]["digest"].startswith("sha256:")
    assert files[1]["problems"] == [
        {"field": "policies[1].check", "line": 10, "message": files[1]["problems"][0]["message"]}
    ]
    assert "unknown check 'nope'" in files[1]["problems"][0]["message"]


CEL = (
    "  - id: no-ssh-port\n    severity: high\n    scenarios: [T1]\n"
    "    expression: '{expr}'\n    actions: {{prod: enforce, staging: warn}}\n"
)


def test_cel_errors_are_named_by_policy_field_and_line(run: Run, tmp_path: Path) -> None:
    """Through the loader's compile: a syntax error and an undeclared variable, both reported."""
    body = (
        SIGNATURE
        + CEL.format(expr="!config.ports.exists(p, p.port == 22")  # policies[1], line 12
        + CEL.format(expr="statement.predicate.env == env").replace("no-ssh", "t1-stmt")
    )
    path = write(tmp_path, body)
    code, out, _ = run("policy", "lint", path)
    assert code == 1
    lines = out.splitlines()
    assert lines[-1] == "2 problem(s)"
    assert lines[0].startswith(f"{path}:12: policies[1].expression: policy 'no-ssh-port': CEL")
    assert lines[1].startswith(f"{path}:17: policies[2].expression: policy 't1-stmt-port'")


def test_a_good_cel_bundle_is_clean(run: Run) -> None:
    code, out, _ = run("policy", "lint", ROOT / "webhook/policies/tests/custom-cel-bundle.yaml")
    assert code == 0 and "ok (3 policies" in out
