"""Member identity: one path, one member, whatever the types and spellings (issue 11 item 4).

Every archive here is a real tar.gz built with `tarfile` in tmp_path and never extracted. A name
reused with another type is the attack: SHA256SUMS vouches for the first member, an extractor
leaves the last one on disk.
"""

from __future__ import annotations

import hashlib
import tarfile
import unicodedata
from pathlib import Path

import pytest

from tests.unit.integrity.tarkit import M, gz, sums, tar_bytes, write
from webhook.integrity import ArchiveReport, inspect_targz

REUSED = "archive-member-reused"
FILE = tarfile.REGTYPE
SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE
DIR = tarfile.DIRTYPE


def inspect(tmp_path: Path, members: list[M]) -> ArchiveReport:
    return inspect_targz(write(tmp_path, gz(tar_bytes(members))))


def reused(report: ArchiveReport) -> list[tuple[str, str]]:
    return [(f.member, f.message) for f in report.findings if f.check == REUSED]


@pytest.mark.parametrize(
    ("second", "kind"),
    [
        (M("a", b"evil"), "file"),
        (M("a", kind=SYM, link="b"), "symlink"),
        (M("a", kind=LNK, link="b"), "hardlink"),
        (M("a", kind=DIR), "directory"),
        (M("a", kind=tarfile.FIFOTYPE), "FIFO"),
    ],
    ids=["file", "symlink", "hardlink", "directory", "fifo"],
)
def test_a_file_then_anything_of_the_same_name(tmp_path: Path, second: M, kind: str) -> None:
    report = inspect(tmp_path, [M("b", b"2"), M("a", b"good"), second])
    assert reused(report) == [
        (
            "a" + ("/" if kind == "directory" else ""),
            f"{kind} lands on the same path as the "
            "earlier file 'a'; extraction keeps only one of them",
        )
    ]
    assert not report.ok


@pytest.mark.parametrize(
    "first",
    [M("a", kind=DIR), M("a", kind=SYM, link="b"), M("a", kind=LNK, link="b")],
    ids=["directory", "symlink", "hardlink"],
)
def test_anything_then_a_file_of_the_same_name(tmp_path: Path, first: M) -> None:
    report = inspect(tmp_path, [M("b", b"2"), first, M("a", b"x")])
    assert [m for m, _ in reused(report)] == ["a"]
    assert "earlier" in reused(report)[0][1]


def test_sums_cannot_vouch_for_a_file_replaced_by_a_symlink(tmp_path: Path) -> None:
    """The reported attack: SHA256SUMS matches `a`, but extraction leaves a symlink there."""
    ms = [
        M("a", b"good"),
        M("b", b"other"),
        M("SHA256SUMS", sums({"a": b"good", "b": b"other"})),
        M("a", kind=SYM, link="b"),
    ]
    report = inspect(tmp_path, ms)
    assert [f.check for f in report.findings] == [REUSED]
    assert report.findings[0].member == "a"
    assert "symlink lands on the same path as the earlier file 'a'" in report.findings[0].message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("x", "./x"),
        ("./x", "x"),
        ("d/x", "d//x"),
        ("d/x", "d/./x"),
        ("./d/x", "d/x/"),
        ("Data/x", "data/x"),
        ("caf\u00e9", unicodedata.normalize("NFD", "caf\u00e9")),
    ],
    ids=[
        "dot-slash",
        "plain-after-dot-slash",
        "double-slash",
        "dot-component",
        "trailing-slash",
        "case",
        "unicode-normalisation",
    ],
)
def test_spellings_of_one_path_are_one_member(tmp_path: Path, first: str, second: str) -> None:
    report = inspect(tmp_path, [M(first, b"1"), M(second, b"2")])
    assert [m for m, _ in reused(report)] == [second]
    assert f"earlier file {first!r}" in reused(report)[0][1]


def test_directory_then_file_and_file_with_trailing_slash(tmp_path: Path) -> None:
    report = inspect(tmp_path, [M("d", kind=DIR), M("d", b"x")])
    assert [m for m, _ in reused(report)] == ["d"]
    assert "file lands on the same path as the earlier directory 'd/'" in reused(report)[0][1]


def test_a_directory_twice_is_reuse_too(tmp_path: Path) -> None:
    report = inspect(tmp_path, [M("d", kind=DIR), M("./d", kind=DIR)])
    assert [m for m, _ in reused(report)] == ["./d/"]


def test_sums_listed_twice_in_the_archive(tmp_path: Path) -> None:
    body = sums({"a": b"1"})
    ms = [M("a", b"1"), M("SHA256SUMS", body), M("./SHA256SUMS", b"")]
    report = inspect(tmp_path, ms)
    assert [m for m, _ in reused(report)] == ["./SHA256SUMS"]


@pytest.mark.parametrize(
    "members",
    [
        [M("a", b"1"), M("a/b", b"2")],
        [M("a/b", b"2"), M("a", b"1")],
        [M("a", b"1"), M("a/deep/er/b", b"2")],
        [M("a", kind=LNK, link="z"), M("z", b"0"), M("a/b", b"2")],
    ],
    ids=["file-then-child", "child-then-file", "file-then-grandchild", "hardlink-then-child"],
)
def test_a_non_directory_cannot_also_be_a_parent(tmp_path: Path, members: list[M]) -> None:
    report = inspect(tmp_path, members)
    found = reused(report)
    assert len(found) == 1, report.findings
    member, message = found[0]
    assert member.startswith("a/")
    assert "is written below" in message and "which is not a directory" in message


def test_a_symlink_replacing_an_implied_directory(tmp_path: Path) -> None:
    report = inspect(tmp_path, [M("d/x", b"1"), M("e", kind=DIR), M("d", kind=SYM, link="e")])
    found = reused(report)
    assert [m for m, _ in found] == ["d/x"]
    assert "written below symlink 'd'" in found[0][1]


def test_two_members_on_one_file_through_a_symlink(tmp_path: Path) -> None:
    ms = [M("real/f", b"good"), M("alias", kind=SYM, link="real"), M("alias/f", b"evil")]
    report = inspect(tmp_path, ms)
    assert reused(report) == [
        (
            "alias/f",
            "file lands on the same path as the earlier file 'real/f'; "
            "extraction keeps only one of them",
        )
    ]


def test_distinct_members_and_an_explicit_directory_after_its_files_are_fine(
    tmp_path: Path,
) -> None:
    body = b"".join(
        f"{hashlib.sha256(d).hexdigest()}  {n}\n".encode()
        for n, d in {"d/x": b"1", "d/y": b"2", "dx": b"3", "h": b"1", "h2": b"1"}.items()
    )
    ms = [
        M("./", kind=DIR),
        M("d/x", b"1"),
        M("d", kind=DIR),  # implied first, then listed: one directory
        M("d/y", b"2"),
        M("dx", b"3"),  # shares a prefix, not a parent
        M("d-", kind=DIR),  # sorts between 'd' and 'd/...' in plain string order
        M("h", kind=LNK, link="d/x"),
        M("h2", kind=LNK, link="h"),  # a hardlink to a hardlink: still the file d/x
        M("s", kind=SYM, link="d"),
        M("s/z", b""),  # written through an inside symlink: lands on d/z, a new path
        M("SHA256SUMS", body + f"{hashlib.sha256(b'').hexdigest()}  s/z\n".encode()),
    ]
    report = inspect(tmp_path, ms)
    assert report.ok, report.findings
    assert report.sums_checked == 6


# --- hardlink targets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "target"),
    [
        ([M("h", kind=LNK, link="later"), M("later", b"1")], "later"),
        ([M("h", kind=LNK, link="missing")], "missing"),
        ([M("d", kind=DIR), M("h", kind=LNK, link="d")], "d"),
        ([M("f", b"1"), M("s", kind=SYM, link="f"), M("h", kind=LNK, link="s")], "s"),
        ([M("h", kind=LNK, link="h")], "h"),
        ([M("h", kind=LNK, link="./h")], "./h"),
    ],
    ids=["later-member", "missing", "directory", "symlink", "itself", "itself-dot-slash"],
)
def test_hardlink_target_must_be_an_earlier_file(
    tmp_path: Path, members: list[M], target: str
) -> None:
    report = inspect(tmp_path, members)
    escapes = [f for f in report.findings if f.check == "archive-link-escape"]
    assert [(f.member, f.message) for f in escapes] == [
        (
            "h",
            f"hardlink target {target!r} is not an earlier file of the archive "
            "(an extractor would link whatever is at that path on the restore host)",
        )
    ]


def test_hardlink_to_a_file_later_redefined(tmp_path: Path) -> None:
    ms = [
        M("a", b"good"),
        M("h", kind=LNK, link="a"),
        M("a", kind=SYM, link="h"),
        M("SHA256SUMS", sums({"a": b"good", "h": b"good"})),
    ]
    report = inspect(tmp_path, ms)
    assert [m for m, _ in reused(report)] == ["a"]
