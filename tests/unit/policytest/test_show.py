"""`policy show` prints the effective bundle as YAML that loads again to the same policies."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.unit.policytest.conftest import ROOT
from webhook.policies import default_bundle, load_bundle

Run = Callable[..., tuple[int, str, str]]


def test_show_prints_the_digest_and_a_loadable_effective_bundle(run: Run) -> None:
    code, out, _ = run("policy", "show")
    bundle = default_bundle()
    assert code == 0
    assert f"# digest: {bundle.digest}" in out.splitlines()[2]
    again = load_bundle(out.encode(), source="shown")
    assert [p.summary() for p in again.policies] == [p.summary() for p in bundle.policies]
    assert "#   trust-store-empty:" in out  # the always-enforced reasons, as comments


def test_show_fills_in_defaults_and_env_overlays(run: Run) -> None:
    _, out, _ = run("policy", "show")
    shown = load_bundle(out.encode(), source="shown")
    caps = shown.get("no-added-caps")
    assert caps is not None
    assert caps.params_for("staging")["allow"] == ("NET_BIND_SERVICE",)
    sig = shown.get("signature-required")
    assert sig is not None and sig.params["threshold"] == 1


def test_show_of_a_custom_bundle(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_bytes((ROOT / "webhook/policies/default.yaml").read_bytes() + b"\n# edited\n")
    code, out, _ = run("policy", "show", "--policy", path)
    assert code == 0
    assert f"# source: {path}" in out
    assert load_bundle(path.read_bytes(), source="x").digest in out


def test_show_json_is_kept(run: Run) -> None:
    code, out, _ = run("policy", "show", "--output", "json")
    data = json.loads(out)
    assert code == 0
    assert data["digest"] == default_bundle().digest
    assert set(data) == {"digest", "source", "policies", "builtin_reasons"}


def test_show_of_an_unusable_bundle_is_exit_2(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies: []\n")
    code, _, err = run("policy", "show", "--policy", path)
    assert code == 2 and "policies: must list at least one policy" in err


def test_show_keeps_cel_policies_as_written(run: Run) -> None:
    path = ROOT / "webhook/policies/tests/custom-cel-bundle.yaml"
    code, out, _ = run("policy", "show", "--policy", path)
    assert code == 0
    shown = load_bundle(out.encode(), source="shown")
    original = load_bundle(path.read_bytes(), source="x")
    assert [p.summary() for p in shown.policies] == [p.summary() for p in original.policies]
    assert "expression: '!config.ports.exists(p, p.port == 22)'" in out
