"""The suites shipped for the default bundle pass (this is how `make test` runs them)."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.unit.policytest.conftest import EXAMPLES, SHIPPED
from webhook.policytest import discover, load_suites


def test_shipped_suites_pass(run: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = run("policy", "test", SHIPPED)
    assert code == 0, out + err
    assert " 0 failed" in out.splitlines()[-1]


def test_every_example_folder_has_a_case_per_door() -> None:
    """A new example folder must get its cases: both doors, its expected.json's decision."""
    cases = [c for s in load_suites(discover([str(SHIPPED)])) for c in s.cases]
    by_folder: dict[str, dict[str, str]] = {}
    for c in cases:
        if c.folder is not None:
            by_folder.setdefault(c.folder.resolve().name, {})[c.env] = c.expect.decision
    for folder in sorted(p for p in EXAMPLES.iterdir() if (p / "expected.json").is_file()):
        expected = json.loads((folder / "expected.json").read_text())
        env = expected.get("env", "prod")
        other = "staging" if env == "prod" else "prod"
        doors = by_folder.get(folder.name, {})
        assert doors.get(env) == expected["decision"], folder.name
        assert doors.get(other) == "BLOCK", folder.name


def test_shipped_suites_cover_both_envs_and_every_policy() -> None:
    from webhook.policies import default_bundle

    cases = [c for s in load_suites(discover([str(SHIPPED)])) for c in s.cases]
    assert {c.env for c in cases} == {"prod", "staging"}
    named = set()
    for c in cases:
        e = c.expect
        named |= set(e.present) | set(e.absent) | set(e.reasons or ()) | set(e.warnings or ())
    assert {p.id for p in default_bundle().policies} <= named
