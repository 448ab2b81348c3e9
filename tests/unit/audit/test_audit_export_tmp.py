"""`audit export` writes through an O_EXCL temp file: a symlink planted at the old predictable
temp name (`.<out>.<pid>.tmp`) is never followed, and a failed export leaves nothing behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from webhook.audit import AuditStore, export_jsonl, verify_jsonl
from webhook.audit.errors import AuditReadError


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file an export must never write through a symlink (its bytes are checked after)."""
    path = tmp_path / "victim"
    path.write_bytes(b"precious\n")
    return path


def test_a_planted_symlink_at_the_old_temp_name_is_not_followed(
    filled: AuditStore, tmp_path: Path, victim: Path
) -> None:
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    out = out_dir / "chain.jsonl"
    (out_dir / f".{out.name}.{os.getpid()}.tmp").symlink_to(victim)

    count = export_jsonl(filled.path, out)

    assert victim.read_bytes() == b"precious\n"
    assert not out.is_symlink() and out.is_file()
    assert len(out.read_bytes().splitlines()) == count > 0
    verify_jsonl(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_an_existing_symlink_at_the_output_is_replaced_not_followed(
    filled: AuditStore, tmp_path: Path, victim: Path
) -> None:
    out = tmp_path / "chain.jsonl"
    out.symlink_to(victim)
    export_jsonl(filled.path, out)
    assert victim.read_bytes() == b"precious\n"
    assert not out.is_symlink()


def test_a_failed_export_leaves_the_old_file_and_no_temp(
    filled: AuditStore, tmp_path: Path
) -> None:
    out = tmp_path / "chain.jsonl"
    out.write_bytes(b"old\n")
    with pytest.raises(AuditReadError):
        export_jsonl(tmp_path / "no-such.db", out)
    assert out.read_bytes() == b"old\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
