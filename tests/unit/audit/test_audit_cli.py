"""register() fits the lead's parser whatever the common parent already defines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from webhook.audit import AuditStore
from webhook.cli.audit import register


def parser_with(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="migration-gate")
    register(root.add_subparsers(dest="command", required=True), common)
    return root


def test_parent_without_audit_db_gets_our_own(
    filled: AuditStore, capsys: pytest.CaptureFixture[str]
) -> None:
    root = parser_with(argparse.ArgumentParser(add_help=False))
    args = root.parse_args(["audit", "verify", "--audit-db", str(filled.path), "--output", "json"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True and result["checked"] == 10 and result["target"] == str(filled.path)


def test_parent_with_output_and_audit_db_does_not_conflict(
    filled: AuditStore, capsys: pytest.CaptureFixture[str]
) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--audit-db", type=Path)
    common.add_argument("--output", choices=("text", "json"), default="text")
    common.add_argument("--policy")
    root = parser_with(common)
    args = root.parse_args(
        ["audit", "tail", "-n", "2", "--audit-db", str(filled.path), "--output", "json"]
    )
    assert args.func(args) == 0
    assert [json.loads(x)["seq"] for x in capsys.readouterr().out.splitlines()] == [9, 10]


def test_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    root = parser_with(argparse.ArgumentParser(add_help=False))
    with pytest.raises(SystemExit) as info:
        root.parse_args(["audit"])
    assert info.value.code == 2


def test_export_to_an_unwritable_place(
    filled: AuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = parser_with(argparse.ArgumentParser(add_help=False))
    out = tmp_path / "no-such-dir" / "a.jsonl"
    args = root.parse_args(["audit", "export", "--audit-db", str(filled.path), "--out", str(out)])
    assert args.func(args) == 2
    assert "cannot write export" in capsys.readouterr().err
