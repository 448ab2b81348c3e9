"""The README's console examples are run: each `$ migration-gate ...` must print what is shown.

Shown output lines are compared as prefixes (long lines are elided with `...` in the README);
`$ echo $?` checks the previous command's exit code.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.unit.consoledocs import commands, console_blocks
from webhook.cli import main

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = console_blocks(ROOT / "README.md")


def test_readme_has_console_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.split("\n", 1)[0][:60])
def test_console_block(
    block: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    last_code: int | None = None
    for command, shown in commands(block):
        if command == "echo $?":
            assert shown == [str(last_code)]
            continue
        argv = shlex.split(command)
        assert argv[0] == "migration-gate"
        last_code = main(argv[1:])
        printed = capsys.readouterr().out.splitlines()
        for line, got in zip(shown, printed, strict=False):
            if line.strip() == "...":
                break
            want = line.split("...")[0]
            assert got.startswith(want), f"{command}\nREADME: {want}\nactual: {got}"
