"""Fixtures for the audit tests: real SQLite files in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.audit.helpers import RunCli, cli_parser, make_decision
from webhook.audit import AuditStore, open_store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "audit.db"


@pytest.fixture
def store(db: Path) -> Iterator[AuditStore]:
    s = open_store(db)
    yield s
    s.close()


@pytest.fixture
def filled(store: AuditStore) -> AuditStore:
    """Ten records, seq 1..10."""
    for i in range(1, 11):
        store.append(make_decision(i), source="api", dry_run=False)
    return store


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    def run(*argv: str) -> tuple[int, str, str]:
        args = cli_parser().parse_args(list(argv))
        code = args.func(args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
