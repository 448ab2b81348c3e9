"""docs/cli.md's console examples run, in order, in one copy of examples/: each `$ migration-gate`
line in-process (stdout, then stderr, against the lines shown), `$ echo $?` checks the previous
exit code, any other `$` line is a fixed setup step run by bash in the sandbox. A shown line may
elide with `...`: the parts between must appear in order; a line of just `...` ends the check."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.consoledocs import commands, console_blocks
from webhook.cli import main

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "cli.md"
BLOCKS = console_blocks(DOC)


def matches(shown: str, got: str) -> bool:
    parts = shown.split("...")
    if not got.startswith(parts[0]):
        return False
    at = len(parts[0])
    for part in parts[1:]:
        found = got.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def check(command: str, shown: list[str], printed: list[str]) -> None:
    for i, line in enumerate(shown):
        if line.strip() == "...":
            return
        assert i < len(printed), f"{command}\ndoc shows more lines than printed:\n{printed}"
        assert matches(line, printed[i]), f"{command}\ndoc:    {line}\nactual: {printed[i]}"
    assert len(printed) == len(shown), f"{command}\nprinted more than the doc shows:\n{printed}"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    try:
        code = main(argv)
    except SystemExit as exc:  # --help, -V
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out.splitlines() + captured.err.splitlines()


def test_the_doc_has_an_example_for_every_command() -> None:
    from webhook.cli import build_parser

    ran = {
        shlex.split(cmd)[1]
        for block in BLOCKS
        for cmd, _ in commands(block)
        if cmd.startswith("migration-gate ") and not shlex.split(cmd)[1].startswith("-")
    }
    assert ran == set(build_parser().node.commands)


def test_console_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "webhook" / "policies", tmp_path / "webhook" / "policies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIGRATION_GATE_STATE_DIR")  # the real default: .state/audit.db
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps help to the terminal
    last: int | None = None
    ran = 0
    for block in BLOCKS:
        for command, shown in commands(block):
            if command == "echo $?":
                assert shown == [str(last)], f"after the command before: exit {last}"
                continue
            if not command.startswith("migration-gate "):
                subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True)
                continue
            last, printed = run(shlex.split(command)[1:], capsys)
            check(command, shown, printed)
            ran += 1
    assert ran >= 20
