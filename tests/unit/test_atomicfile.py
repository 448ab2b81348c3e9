"""webhook.atomicfile: O_EXCL temp names, mode from the first byte, all-or-nothing replacement."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from webhook.atomicfile import atomic_writer, write_atomic


def test_error_inside_the_block_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    out = tmp_path / "f"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(out) as fh:
        fh.write(b"half")
        seen = [p for p in tmp_path.iterdir() if p.name != "f"]
        assert len(seen) == 1 and seen[0].name.startswith(".f.")
        assert stat.S_IMODE(seen[0].stat().st_mode) == 0o600  # never wider, even briefly
        raise RuntimeError("boom")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_mode_is_applied_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "pub", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "pub").stat().st_mode) == 0o644


def test_missing_directory_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nope" / "f", b"x")
