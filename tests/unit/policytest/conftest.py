"""Helpers: write a suite into tmp_path and run `migration-gate policy ...` in process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from webhook.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
SHIPPED = ROOT / "webhook" / "policies" / "tests"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

HEAD = "apiVersion: migrationgate.io/policytest/v1\nkind: PolicyTestSuite\n"


def good_case(name: str = "good", **extra: str) -> str:
    keys = {
        "input": str(EXAMPLES / "t1_good"),
        "trust_dir": str(EXAMPLES / "t1_good" / "trust"),
        **extra,
    }
    lines = [f"  - name: {name}"] + [f"    {k}: {v}" for k, v in keys.items()]
    lines += ["    expect:", "      decision: ALLOW"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def suite(tmp_path: Path) -> Callable[..., Path]:
    def write(body: str, name: str = "suite.yaml", head: str = HEAD) -> Path:
        path = tmp_path / name
        path.write_text(head + body)
        return path

    return write


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def go(*argv: str | Path) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return go
