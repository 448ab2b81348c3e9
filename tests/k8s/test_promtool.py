"""The PrometheusRule's rules pass `promtool check rules`, and `promtool test rules` shows each
alert firing from synthetic series shaped like the gate's metrics (tests/k8s/promtool/*.yaml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import render
from .conftest import one

TESTS_DIR = Path(__file__).resolve().parent / "promtool"
TIMEOUT = 120.0


def _rules(helm_bin: Path) -> dict[str, Any]:
    """The rule groups of the PrometheusRule, as a Prometheus rule file."""
    docs = render.documents(
        render.template(
            helm_bin,
            api_versions=(render.MONITORING_API,),
            show_only=("templates/prometheusrule.yaml",),
        )
    )
    return {"groups": one(docs, "PrometheusRule")["spec"]["groups"]}


def _promtool(binary: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, check=False
    )


@pytest.fixture(scope="module")
def rules_dir(helm_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("promtool")
    (work / "rules.yaml").write_text(yaml.safe_dump(_rules(helm_bin), sort_keys=False))
    for test_file in sorted(TESTS_DIR.glob("*.yaml")):
        shutil.copyfile(test_file, work / test_file.name)
    return work


def test_check_rules(promtool_bin: Path, rules_dir: Path) -> None:
    proc = _promtool(promtool_bin, "check", "rules", "rules.yaml", cwd=rules_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_every_alert_has_a_unit_test(helm_bin: Path) -> None:
    alerts = {r["alert"] for g in _rules(helm_bin)["groups"] for r in g["rules"] if "alert" in r}
    tested = set()
    for test_file in TESTS_DIR.glob("*.yaml"):
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            tested |= {
                t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts")
            }
    assert alerts == tested, f"alerts never shown firing: {sorted(alerts - tested)}"


def test_every_alert_has_severity_and_runbook(helm_bin: Path) -> None:
    for group in _rules(helm_bin)["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
            assert rule["labels"]["priority"] in ("P1", "P2", "P3", "P4"), rule["alert"]
            assert rule["annotations"]["runbook_url"].endswith("#" + rule["alert"].lower())


@pytest.mark.parametrize("test_file", sorted(p.name for p in TESTS_DIR.glob("*.yaml")))
def test_rules_unit_tests(promtool_bin: Path, rules_dir: Path, test_file: str) -> None:
    proc = _promtool(promtool_bin, "test", "rules", test_file, cwd=rules_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
