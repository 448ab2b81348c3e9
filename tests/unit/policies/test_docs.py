"""docs/policies.md stays true: its table matches the default bundle and its recipe works."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.unit.policies.conftest import good_config
from webhook.policies import REGISTRY, PolicyContext, default_bundle, evaluate, load_bundle

DOC = Path(__file__).resolve().parents[3] / "docs" / "policies.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_documented_table_matches_default_bundle() -> None:
    rows = re.findall(
        r"^\| ([a-z-]+) +\| (\w+) +\| (\w+) +\| (\w+) +\|", DOC.read_text(), flags=re.M
    )
    documented = {r[0]: r[1:] for r in rows if r[0] not in ("action", "policy")}
    actual = {
        p.id: (p.severity, p.actions["prod"], p.actions["staging"])
        for p in default_bundle().policies
    }
    assert documented == actual


def test_documented_bundle_example_loads() -> None:
    bundle = load_bundle(blocks("yaml")[0].encode(), source="docs example")
    assert tuple(p.id for p in bundle.policies) == ("no-added-caps",)


def test_documented_recipe_adds_a_working_check(scratch_checks: list[str]) -> None:
    scratch_checks.append("max-replicas")
    namespace: dict[str, Any] = {}
    exec(compile(blocks("python")[0], str(DOC), "exec"), namespace)
    assert "max-replicas" in REGISTRY
    entry = blocks("yaml")[1]
    data = (
        "apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n" + entry
    ).encode()
    bundle = load_bundle(data, source="docs recipe")
    cfg = {**good_config(), "replicas": 4}
    prod = evaluate(bundle, PolicyContext(scenario="T1", env="prod", config=cfg))
    staging = evaluate(bundle, PolicyContext(scenario="T1", env="staging", config=cfg))
    assert [(f.field, f.action) for f in prod] == [("replicas", "enforce")]
    assert staging == []
    junk = evaluate(
        bundle, PolicyContext(scenario="T1", env="staging", config={**cfg, "replicas": "4"})
    )
    assert [(f.field, f.action) for f in junk] == [("replicas", "warn")]
