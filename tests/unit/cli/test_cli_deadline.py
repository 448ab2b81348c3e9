"""The CLI door holds a deadline too: `validate --deadline SECONDS` BLOCKs past it.

Before, the CLI gave the engine no deadline at all, so the in-step deadline checks never ran for
that door and a hostile input could keep a CI job busy for as long as it liked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webhook.cli import main

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _run(
    capsys: pytest.CaptureFixture[str], scenario: str, folder: str, *flags: str
) -> tuple[int, dict[str, object]]:
    trust = str(EXAMPLES / folder / "trust")
    code = main(
        [
            "validate",
            scenario,
            str(EXAMPLES / folder),
            "--trust-dir",
            trust,
            "--output",
            "json",
            *flags,
        ]
    )
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("scenario", "folder"), [("migration", "t1_good"), ("replication", "t2_good")]
)
def test_a_deadline_already_past_blocks(
    capsys: pytest.CaptureFixture[str], scenario: str, folder: str
) -> None:
    code, decision = _run(capsys, scenario, folder, "--deadline", "1e-9")
    assert code == 1
    assert decision["decision"] == "BLOCK"
    assert [r["policy"] for r in decision["reasons"]] == ["deadline-exceeded"]


@pytest.mark.parametrize(
    ("scenario", "folder"), [("migration", "t1_good"), ("replication", "t2_good")]
)
def test_a_generous_deadline_decides_as_without_one(
    capsys: pytest.CaptureFixture[str], scenario: str, folder: str
) -> None:
    code, decision = _run(capsys, scenario, folder, "--deadline", "600")
    assert (code, decision["decision"]) == (0, "ALLOW")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_deadline_is_a_usage_error(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["validate", "migration", str(EXAMPLES / "t1_good"), "--deadline", value])
    assert exit_.value.code == 2
    assert "--deadline" in capsys.readouterr().err
