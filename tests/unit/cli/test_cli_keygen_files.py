"""`keygen` writes its key files atomically with O_EXCL temp files (issue 11 item 9, same class
as the audit export and dev certificates): a dangling symlink planted at the key's name is not
followed, and an overwritten key never keeps the old file's wider mode."""

from __future__ import annotations

import stat
from pathlib import Path

from webhook.cli import main


def test_a_dangling_symlink_at_the_key_name_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "authorized"
    target.parent.mkdir()
    (tmp_path / "k.key").symlink_to(target)  # dangling: `exists()` says no, open would follow
    assert main(["keygen", "--out", str(tmp_path / "k")]) == 0
    assert not target.exists()
    key = tmp_path / "k.key"
    assert not key.is_symlink() and b"PRIVATE KEY" in key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_force_over_a_world_readable_key_leaves_it_private(tmp_path: Path) -> None:
    old = tmp_path / "k.key"
    old.write_bytes(b"old")
    old.chmod(0o644)
    assert main(["keygen", "--out", str(tmp_path / "k"), "--force"]) == 0
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "k.pub").stat().st_mode) == 0o644
