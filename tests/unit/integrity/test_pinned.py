"""webhook.integrity.pinned: open beneath a root with O_NOFOLLOW per component, read by fd."""

from __future__ import annotations

import gc
import hashlib
import os
from pathlib import Path

import pytest

from tests.unit.integrity.tarkit import M, gz, tar_bytes
from webhook.integrity import hash_file, inspect_targz
from webhook.integrity.pinned import UnsafePath, open_beneath, open_dir_beneath


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"hello")
    return tmp_path


def test_reads_come_from_the_descriptor_and_readers_are_independent(root: Path) -> None:
    pinned = open_beneath(root, ["a", "b", "f"])
    assert pinned.size == 5 and pinned.name == f"{root}/a/b/f"
    one, two = pinned.reader(), pinned.reader()
    assert one.read(2) == b"he"
    assert two.read() == b"hello"  # no shared offset
    assert one.read() == b"llo"
    (root / "a" / "b" / "f").unlink()
    assert hash_file(pinned) == hashlib.sha256(b"hello").hexdigest()


def test_inspect_targz_reads_a_pinned_file_like_a_path(root: Path) -> None:
    (root / "s.tar.gz").write_bytes(gz(tar_bytes([M("x", b"1")])))
    pinned = open_beneath(root, ["s.tar.gz"])
    via_fd = inspect_targz(pinned, file="s.tar.gz")
    assert via_fd == inspect_targz(root / "s.tar.gz", file="s.tar.gz")
    assert via_fd.ok and via_fd.members == 1


@pytest.mark.parametrize(
    ("parts", "why"),
    [
        (["a", "..", "a", "b", "f"], "is not a plain name"),
        (["a", "", "b", "f"], "is not a plain name"),
        (["a", "b/f"], "is not a plain name"),
        (["a", "b", "f\0"], "is not a plain name"),
        (["a", "nope", "f"], "'a/nope' does not exist"),
        (["a", "b", "nope"], "'a/b/nope' does not exist"),
        (["a", "b"], "'a/b' is not a regular file"),
        (["a", "b", "f", "g"], "'a/b/f' is not a directory"),
        ([], "names the root itself"),
    ],
)
def test_refusals_name_the_component(root: Path, parts: list[str], why: str) -> None:
    with pytest.raises(UnsafePath, match=why.replace("(", r"\(")):
        open_beneath(root, parts)


def test_symlinks_anywhere_below_the_root_are_refused(root: Path) -> None:
    (root / "l").symlink_to(root / "a")
    (root / "a" / "b" / "lf").symlink_to(root / "a" / "b" / "f")
    with pytest.raises(UnsafePath, match="'l' is a symlink"):
        open_beneath(root, ["l", "b", "f"])
    with pytest.raises(UnsafePath, match="'a/b/lf' is a symlink"):
        open_beneath(root, ["a", "b", "lf"])


def test_a_symlink_in_the_configured_root_itself_is_trusted(root: Path, tmp_path: Path) -> None:
    alias = tmp_path.parent / f"{tmp_path.name}-alias"
    alias.symlink_to(root)
    try:
        assert open_beneath(alias, ["a", "b", "f"]).size == 5
    finally:
        alias.unlink()


def test_size_limit_and_fifo(root: Path) -> None:
    with pytest.raises(UnsafePath, match="5 bytes, over the limit of 4"):
        open_beneath(root, ["a", "b", "f"], max_bytes=4)
    os.mkfifo(root / "p")
    with pytest.raises(UnsafePath, match="'p' is not a regular file"):
        open_beneath(root, ["p"])  # O_NONBLOCK: does not wait for a writer


def test_descriptors_are_closed_when_dropped_and_on_refusal(root: Path) -> None:
    gc.collect()
    before = open_fds()
    pinned = open_beneath(root, ["a", "b", "f"])
    wal = open_dir_beneath(root, ["a"]).subdir("b").child("f")
    assert hash_file(wal) == hash_file(pinned)
    for _ in range(20):
        with pytest.raises(UnsafePath):
            open_beneath(root, ["a", "b", "nope"])
    del pinned, wal
    gc.collect()
    assert open_fds() == before
