"""The coverage floor stays in `make unit` and only ever rises.

Lowering `fail_under` (or dropping the check from the Makefile) must fail here too, so a drop
is a deliberate edit of two files in review, never a quiet one-liner in pyproject.toml.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the floor when it was last raised (the total measured then was 90.45%): raise with it
LAST_FLOOR = 90


def _coverage() -> dict[str, dict[str, object]]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["tool"]["coverage"]  # type: ignore[no-any-return]


def test_the_floor_never_drops() -> None:
    floor = _coverage()["report"]["fail_under"]
    assert isinstance(floor, int | float) and floor >= LAST_FLOOR, (
        f"coverage floor {floor} is below {LAST_FLOOR}: the floor only ever rises"
    )


def test_the_floor_measures_line_and_branch_coverage_of_webhook() -> None:
    run = _coverage()["run"]
    assert run["source"] == ["webhook"] and run["branch"] is True


def test_make_unit_runs_under_coverage_and_checks_the_floor() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^unit: .*\n((?:\t.*\n|  .*\n)+)", makefile, re.M)
    assert recipe is not None, "no `unit:` target in the Makefile"
    body = recipe.group(1)
    assert "coverage run -m pytest" in body and "tests/unit" in body
    # one report: it prints the total and exits 2 below fail_under, which fails the target
    assert "total=$$($(BIN)/coverage report --format=total) ||" in body and "exit 1" in body
