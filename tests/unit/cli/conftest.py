"""Every CLI test runs with its own state dir, so the default audit store is a temp file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("MIGRATION_GATE_STATE_DIR", str(state))
    for name in ("MIGRATION_GATE_AUDIT_DB", "MIGRATION_GATE_POLICY", "MIGRATION_GATE_TRUST_DIR"):
        monkeypatch.delenv(name, raising=False)
    return state
