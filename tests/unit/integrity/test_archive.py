"""Each archive guard against a real crafted tar.gz (built in tmp_path, never extracted)."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import time
import zlib
from pathlib import Path

import pytest

from tests.unit.integrity.tarkit import M, gz, set_field, sums, tar_bytes, write
from webhook.errors import DeadlineExceeded, InputError
from webhook.integrity import ArchiveLimits, ArchiveReport, archive, inspect_targz
from webhook.integrity.archive import inflate, recipe

# every test runs twice: stdlib zlib hashing on the helper thread, and ISA-L (when installed,
# else zlib again) hashing inline as on a single pinned CPU
MODES = [("zlib", 2), ("isal" if archive.GZIP_BACKEND == "isal" else "zlib", 1)]


@pytest.fixture(autouse=True, params=MODES, ids=lambda m: f"{m[0]}-{m[1]}cpu")
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name, cpus = request.param
    if name == "zlib":
        monkeypatch.setattr(inflate, "_new_gzip", inflate._zlib_gzip)
    monkeypatch.setattr(recipe, "usable_cpus", lambda: cpus)
    return str(name)


def checks(report: ArchiveReport) -> list[str]:
    return [f.check for f in report.findings]


def only(report: ArchiveReport, check: str) -> list[str]:
    return [f"{f.member}: {f.message}" for f in report.findings if f.check == check]


FILES = {"data/base/1.dat": b"a" * 5000, "data/base/2.dat": b"", "data/wal/0001": b"x" * 70000}


def good_members(with_sums: bool = True, sums_first: bool = False) -> list[M]:
    ms = [M("data", kind=tarfile.DIRTYPE), M("data/base", kind=tarfile.DIRTYPE)]
    ms += [M(n, d) for n, d in FILES.items()]
    ms.append(M("data/latest", kind=tarfile.SYMTYPE, link="base/1.dat"))
    if with_sums:
        s = M("SHA256SUMS", sums(FILES))
        ms = [s, *ms] if sums_first else [*ms, s]
    return ms


# --- good archives ---------------------------------------------------------------------------


@pytest.mark.parametrize("sums_first", [False, True])
def test_good_archive_reports_members_size_and_digests(tmp_path: Path, sums_first: bool) -> None:
    tar = tar_bytes(good_members(sums_first=sums_first))
    path = write(tmp_path, gz(tar))
    report = inspect_targz(path, file_algorithms=("sha256", "sha512"))
    assert report.findings == ()
    assert report.ok
    assert report.members == 7
    assert report.expanded_bytes == len(tar)
    assert report.sums_checked == 3
    raw = path.read_bytes()
    assert report.file_digests == {
        "sha256": hashlib.sha256(raw).hexdigest(),
        "sha512": hashlib.sha512(raw).hexdigest(),
    }


def test_good_archive_without_sums_and_from_a_file_object(tmp_path: Path) -> None:
    data = gz(tar_bytes(good_members(with_sums=False)))
    report = inspect_targz(io.BytesIO(data))
    assert report.ok and report.sums_checked == 0 and report.members == 6
    assert report.file_digests["sha256"] == hashlib.sha256(data).hexdigest()


def test_dot_slash_names_and_star_mode_sums(tmp_path: Path) -> None:
    body = f"{hashlib.sha256(b'hi').hexdigest()} *./a/b.txt\n".encode()
    tar = tar_bytes([M("./a/b.txt", b"hi"), M("./SHA256SUMS", body)])
    report = inspect_targz(write(tmp_path, gz(tar)))
    assert report.ok, report.findings
    assert report.sums_checked == 1


def test_multi_member_gzip_is_one_stream(tmp_path: Path) -> None:
    tar = tar_bytes(good_members())
    cut = len(tar) // 3
    report = inspect_targz(write(tmp_path, gz(tar[:cut]) + gz(tar[cut:])))
    assert report.ok, report.findings
    assert report.expanded_bytes == len(tar)


class Dribble(io.RawIOBase):
    """A reader that returns a few bytes per read, so every header and gzip field is split."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._step = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self._step = self._step % 13 + 1
        out = self._data[self._pos : self._pos + self._step]
        self._pos += len(out)
        return out


def test_odd_read_sizes_give_the_same_report(tmp_path: Path) -> None:
    tar = tar_bytes(good_members(), fmt=tarfile.GNU_FORMAT)
    data = gz(tar[:3000]) + gz(tar[3000:])
    whole = inspect_targz(io.BytesIO(data))
    dribbled = inspect_targz(Dribble(data))  # type: ignore[arg-type]
    assert dribbled == whole
    assert whole.ok and whole.sums_checked == 3


def test_too_many_gzip_members_is_a_bomb(tmp_path: Path) -> None:
    data = gz(tar_bytes(good_members())) + gz(b"") * 50
    report = inspect_targz(io.BytesIO(data), limits=ArchiveLimits(max_members=20))
    assert only(report, "archive-bomb") == [": more than 20 gzip members"]


def test_no_thread_is_left_behind(tmp_path: Path) -> None:
    import threading

    before = threading.active_count()
    inspect_targz(write(tmp_path, gz(tar_bytes(good_members()))))
    inspect_targz(write(tmp_path, b"not gzip"))
    assert threading.active_count() == before


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_pax_gnu_and_ustar_prefix(tmp_path: Path, fmt: int) -> None:
    # ustar can only split at a '/', so use a long directory path and a short file name
    long = "d" * 90 + "/" + "e" * 60 + "/file.dat" if fmt == tarfile.USTAR_FORMAT else "n" * 300
    ms = [M(long, b"payload"), M("SHA256SUMS", sums({long: b"payload"}))]
    if fmt != tarfile.USTAR_FORMAT:
        ms.append(M("l" * 200, kind=tarfile.SYMTYPE, link=long))
    tar = tar_bytes(ms, fmt=fmt)
    if fmt == tarfile.GNU_FORMAT:
        assert b"././@LongLink" in tar
    report = inspect_targz(write(tmp_path, gz(tar)))
    assert report.ok, report.findings
    assert report.sums_checked == 1
    assert report.members == len(ms)


def test_pax_long_name_with_traversal_is_caught(tmp_path: Path) -> None:
    evil = "a/" + "../" * 60 + "etc/cron.d/x"
    report = inspect_targz(write(tmp_path, gz(tar_bytes([M(evil, b"x")]))))
    assert checks(report) == ["archive-path-traversal"]
    assert report.findings[0].member == evil


def test_malformed_pax_record_is_invalid(tmp_path: Path) -> None:
    tar = bytearray(tar_bytes([M("p" * 150, b"x")]))
    at = tar.index(b" path=")
    tar[at - 3 : at] = b"999"  # record length now runs past the header data
    report = inspect_targz(write(tmp_path, gz(bytes(tar))))
    assert checks(report) == ["archive-invalid"]
    assert "malformed pax record" in report.findings[0].message


def test_non_utf8_names_are_reported_escaped(tmp_path: Path) -> None:
    tar = tar_bytes([M("ok-name", b"x")], fmt=tarfile.USTAR_FORMAT)
    tar = set_field(tar, 0, 0, bytes([0x63, 0x61, 0x66, 0xE9]) + b"/../x\0")
    report = inspect_targz(write(tmp_path, gz(tar)))
    assert checks(report) == ["archive-path-traversal"]
    assert report.findings[0].member == "caf\\xe9/../x"


def test_base256_size_field_is_understood(tmp_path: Path) -> None:
    tar = tar_bytes([M("f", b"hello")], fmt=tarfile.GNU_FORMAT)
    tar = set_field(tar, 0, 124, b"\x80" + (5).to_bytes(11, "big"))
    report = inspect_targz(write(tmp_path, gz(tar)))
    assert report.ok, report.findings


def test_large_members_hashed_across_many_handoffs(tmp_path: Path) -> None:
    """Members larger than the offload size, spanning many hash batches and read chunks, keep
    their order: each digest matches, a wrong SHA256SUMS line is still caught."""
    rnd = random.Random(5)
    files = {
        "data/big1": rnd.randbytes(3 * 1024 * 1024 + 17),  # incompressible: many raw chunks
        "data/small": b"s" * 1000,  # hashed inline between two offloaded members
        "data/big2": rnd.randbytes(700_000) * 3,
        "data/big3": bytes(2 * 1024 * 1024),  # 1000:1, one read chunk inflates to many batches
    }
    lying = {**files, "data/big2": b"other"}
    for listed, want_ok in ((files, True), (lying, False)):
        members = [M(n, d) for n, d in files.items()] + [M("SHA256SUMS", sums(listed))]
        data = gz(tar_bytes(members))
        report = inspect_targz(write(tmp_path, data))
        assert report.file_digests["sha256"] == hashlib.sha256(data).hexdigest()
        assert report.members == 5
        if want_ok:
            assert report.ok, report.findings
            assert report.sums_checked == 4
        else:
            assert checks(report) == ["archive-checksum-mismatch"]
            assert report.findings[0].member == "data/big2"
            assert report.sums_checked == 3


# --- traversal and links ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x", "'..' path component"),
        ("a/../../x", "'..' path component"),
        ("/etc/passwd", "absolute path"),
        ("..\\..\\windows\\x", "backslash"),
        ("C:/x", "drive-letter"),
    ],
)
def test_path_traversal(tmp_path: Path, name: str, why: str) -> None:
    report = inspect_targz(write(tmp_path, gz(tar_bytes([M(name, b"x")]))))
    assert checks(report) == ["archive-path-traversal"]
    assert report.findings[0].member == name
    assert why in report.findings[0].message


@pytest.mark.parametrize(
    ("members", "member"),
    [
        ([M("a/link", kind=tarfile.SYMTYPE, link="../../x")], "a/link"),
        ([M("l", kind=tarfile.SYMTYPE, link="/etc/shadow")], "l"),
        ([M("h", kind=tarfile.LNKTYPE, link="../outside")], "h"),
        ([M("h", kind=tarfile.LNKTYPE, link="/etc/passwd")], "h"),
        # hardlink targets are relative to the archive root, not the member's directory
        ([M("a/b/h", kind=tarfile.LNKTYPE, link="../x")], "a/b/h"),
        # each link stays inside alone; together d1/d2/lnk/.. is the parent of the root
        (
            [
                M("e", kind=tarfile.SYMTYPE, link="d1/d2/lnk/.."),
                M("d1/d2/lnk", kind=tarfile.SYMTYPE, link="../.."),
            ],
            "e",
        ),
        ([M("loop", kind=tarfile.SYMTYPE, link="loop/x")], "loop"),
    ],
)
def test_link_escape(tmp_path: Path, members: list[M], member: str) -> None:
    report = inspect_targz(write(tmp_path, gz(tar_bytes(members))))
    assert checks(report) == ["archive-link-escape"], report.findings
    assert report.findings[0].member == member


def test_links_that_stay_inside_are_fine(tmp_path: Path) -> None:
    ms = [
        M("data/f", b"1"),
        M("data/sub/l", kind=tarfile.SYMTYPE, link="../f"),
        M("data/h", kind=tarfile.LNKTYPE, link="data/f"),
        M("up", kind=tarfile.SYMTYPE, link="data/sub/.."),
    ]
    report = inspect_targz(write(tmp_path, gz(tar_bytes(ms))))
    assert report.ok, report.findings


def test_member_written_through_an_escaping_symlink(tmp_path: Path) -> None:
    ms = [M("evil", kind=tarfile.SYMTYPE, link="/etc"), M("evil/cron.d/job", b"x")]
    report = inspect_targz(write(tmp_path, gz(tar_bytes(ms))))
    assert sorted(f.member for f in report.findings) == ["evil", "evil/cron.d/job"]
    assert set(checks(report)) == {"archive-link-escape"}


# --- special members -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "FIFO"),
    ],
)
def test_special_members(tmp_path: Path, kind: bytes, what: str) -> None:
    report = inspect_targz(write(tmp_path, gz(tar_bytes([M("dev/x", kind=kind)]))))
    assert only(report, "archive-special-member") == [f"dev/x: {what} member"]


def test_gnu_sparse_member_is_rejected(tmp_path: Path) -> None:
    tar = set_field(tar_bytes([M("f", b"abc")], fmt=tarfile.GNU_FORMAT), 0, 156, b"S")
    report = inspect_targz(write(tmp_path, gz(tar)))
    assert checks(report) == ["archive-invalid"]


# --- bombs -----------------------------------------------------------------------------------


def many_members(n: int) -> bytes:
    """A ustar stream of `n` empty files named f0..f{n-1}, built directly (tarfile is slow)."""
    template = bytearray(tar_bytes([M("x")], fmt=tarfile.USTAR_FORMAT)[:512])
    out = bytearray()
    for i in range(n):
        block = bytearray(template)
        block[0:100] = f"f{i}".encode().ljust(100, b"\0")
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
        out += block
    return bytes(out + bytes(1024))


def test_member_count_bomb_default_limit(tmp_path: Path) -> None:
    report = inspect_targz(write(tmp_path, gz(many_members(200_000))))
    assert checks(report) == ["archive-bomb"]
    assert "more than 100000 members" in report.findings[0].message
    assert report.members == 100_001


def test_member_count_bomb_small_limit(tmp_path: Path) -> None:
    report = inspect_targz(
        write(tmp_path, gz(many_members(5000))), limits=ArchiveLimits(max_members=1000)
    )
    assert checks(report) == ["archive-bomb"]


def zero_bomb(tmp_path: Path, mib: int) -> Path:
    """One member of `mib` MiB of zeros, compressed streaming (about 1000:1)."""
    size = mib * 1024 * 1024
    head = tar_bytes([M("zeros", b"")])[:512]
    head = set_field(head + bytes(1024), 0, 124, b"%011o\0" % size)[:512]
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    path = tmp_path / "bomb.tar.gz"
    with path.open("wb") as fh:
        fh.write(comp.compress(head))
        chunk = bytes(1024 * 1024)
        for _ in range(mib):
            fh.write(comp.compress(chunk))
        fh.write(comp.compress(bytes(1024)))
        fh.write(comp.flush())
    return path


def test_ratio_bomb_stops_early(tmp_path: Path) -> None:
    path = zero_bomb(tmp_path, 256)
    report = inspect_targz(path, limits=ArchiveLimits(max_ratio=100))
    assert checks(report) == ["archive-bomb"]
    assert "ratio" in report.findings[0].message
    assert report.expanded_bytes < 16 * 1024 * 1024  # stopped long before 256 MiB
    # the whole file is still hashed so the caller can compare it with the manifest
    assert report.file_digests["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_expanded_size_bomb(tmp_path: Path) -> None:
    path = zero_bomb(tmp_path, 8)
    report = inspect_targz(path, limits=ArchiveLimits(max_expanded_bytes=4 * 1024 * 1024))
    assert checks(report) == ["archive-bomb"]
    assert "claims" in report.findings[0].message  # the header's size alone is over the limit


def test_within_limits_the_zero_archive_is_fine(tmp_path: Path) -> None:
    report = inspect_targz(zero_bomb(tmp_path, 8), limits=ArchiveLimits(max_ratio=2000))
    assert report.ok, report.findings


# --- broken streams --------------------------------------------------------------------------


def test_not_gzip(tmp_path: Path) -> None:
    report = inspect_targz(write(tmp_path, tar_bytes(good_members())))
    assert only(report, "archive-invalid")[0].startswith(": not a gzip file")


def test_empty_file(tmp_path: Path) -> None:
    report = inspect_targz(write(tmp_path, b""))
    assert only(report, "archive-invalid") == [": empty file, not a gzip archive"]
    assert report.file_digests["sha256"] == hashlib.sha256(b"").hexdigest()


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gz(tar_bytes(good_members()))
    path = write(tmp_path, data[: len(data) // 2])
    report = inspect_targz(path)
    assert only(report, "archive-invalid") == [": truncated gzip stream"]
    assert report.file_digests["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_corrupt_gzip_crc(tmp_path: Path) -> None:
    data = bytearray(gz(tar_bytes(good_members())))
    data[-8] ^= 0xFF  # CRC32 in the gzip trailer
    report = inspect_targz(write(tmp_path, bytes(data)))
    assert checks(report) == ["archive-invalid"]
    assert "corrupt gzip data" in report.findings[0].message


@pytest.mark.parametrize("cut", [700, 512 + 300, 3075])
def test_truncated_tar_inside_gzip(tmp_path: Path, cut: int) -> None:
    tar = tar_bytes([M("a", b"z" * 2000), M("b", b"y" * 10)])
    report = inspect_targz(write(tmp_path, gz(tar[:cut])))
    assert checks(report) == ["archive-invalid"]
    assert "truncated tar" in report.findings[0].message


def test_missing_end_marker(tmp_path: Path) -> None:
    tar = tar_bytes([M("a", b"z" * 10)])
    report = inspect_targz(write(tmp_path, gz(tar[:1024])))
    assert only(report, "archive-invalid") == [": truncated tar: no end-of-archive marker"]


def test_bad_header_checksum(tmp_path: Path) -> None:
    tar = bytearray(tar_bytes([M("a", b"1"), M("b", b"2")]))
    tar[1024] ^= 0x01  # first byte of the second header's name, checksum left stale
    report = inspect_targz(write(tmp_path, gz(bytes(tar))))
    assert checks(report) == ["archive-invalid"]
    assert "bad tar header checksum at tar offset 1024" in report.findings[0].message


def test_trailing_garbage_after_gzip(tmp_path: Path) -> None:
    report = inspect_targz(write(tmp_path, gz(tar_bytes(good_members())) + b"GARBAGE!" * 8))
    assert checks(report) == ["archive-invalid"]
    assert "trailing bytes after the gzip stream" in report.findings[0].message


def test_garbage_after_tar_end_marker(tmp_path: Path) -> None:
    tar = tar_bytes(good_members()) + b"hidden payload"
    report = inspect_targz(write(tmp_path, gz(tar)))
    assert checks(report) == ["archive-invalid"]
    assert "after the tar end-of-archive marker" in report.findings[0].message


def test_duplicate_member_names(tmp_path: Path) -> None:
    """More cases (every type, every spelling) in test_archive_identity.py."""
    report = inspect_targz(write(tmp_path, gz(tar_bytes([M("a", b"1"), M("./a", b"2")]))))
    assert only(report, "archive-member-reused") == [
        "./a: file lands on the same path as the earlier file 'a'; "
        "extraction keeps only one of them"
    ]


# --- SHA256SUMS ------------------------------------------------------------------------------


def test_sums_mismatch(tmp_path: Path) -> None:
    ms = [M("a", b"real"), M("SHA256SUMS", sums({"a": b"claimed"}))]
    report = inspect_targz(write(tmp_path, gz(tar_bytes(ms))))
    assert checks(report) == ["archive-checksum-mismatch"]
    f = report.findings[0]
    assert f.member == "a" and hashlib.sha256(b"real").hexdigest() in f.message
    assert report.sums_checked == 0


def test_sums_unlisted_member(tmp_path: Path) -> None:
    ms = [M("a", b"1"), M("extra", b"2"), M("SHA256SUMS", sums({"a": b"1"}))]
    report = inspect_targz(write(tmp_path, gz(tar_bytes(ms))))
    assert only(report, "archive-checksum-mismatch") == [
        "extra: regular member not listed in SHA256SUMS"
    ]
    assert report.sums_checked == 1


def test_sums_listed_but_missing(tmp_path: Path) -> None:
    ms = [M("SHA256SUMS", sums({"a": b"1", "gone": b"2"})), M("a", b"1")]
    report = inspect_targz(write(tmp_path, gz(tar_bytes(ms))))
    assert only(report, "archive-checksum-mismatch") == [
        "gone: listed in SHA256SUMS but not a regular member of the archive"
    ]


def test_sums_malformed_line(tmp_path: Path) -> None:
    body = sums({"a": b"1"}) + b"not a checksum line\n"
    report = inspect_targz(write(tmp_path, gz(tar_bytes([M("a", b"1"), M("SHA256SUMS", body)]))))
    assert only(report, "archive-checksum-mismatch") == [
        "SHA256SUMS: SHA256SUMS line 2 is not '<sha256>  <name>'"
    ]


def test_sums_covers_hardlinks_to_regular_members(tmp_path: Path) -> None:
    ms = [
        M("a", b"1"),
        M("h", kind=tarfile.LNKTYPE, link="a"),
        M("SHA256SUMS", sums({"a": b"1", "h": b"1"})),
    ]
    report = inspect_targz(write(tmp_path, gz(tar_bytes(ms))))
    assert report.ok, report.findings
    assert report.sums_checked == 2


# --- all problems at once, errors, deadline --------------------------------------------------


def test_all_findings_are_collected(tmp_path: Path) -> None:
    ms = [
        M("../escape", b"1"),
        M("dev/null", kind=tarfile.CHRTYPE),
        M("l", kind=tarfile.SYMTYPE, link="/"),
        M("ok", b"2"),
        M("SHA256SUMS", sums({"ok": b"2"})),
    ]
    report = inspect_targz(write(tmp_path, gz(tar_bytes(ms))))
    assert checks(report) == [
        "archive-path-traversal",
        "archive-special-member",
        "archive-link-escape",
        "archive-checksum-mismatch",  # ../escape is a regular member not listed
    ]
    assert len(report.findings) == 4 and report.findings[0].member == "../escape"


def test_findings_are_capped(tmp_path: Path) -> None:
    ms = [M(f"../x{i}", b"") for i in range(30)]
    path = write(tmp_path, gz(tar_bytes(ms)))
    report = inspect_targz(path, limits=ArchiveLimits(max_findings=10))
    assert len(report.findings) == 11
    assert report.findings[-1].message == "20 more findings not shown"


def test_unreadable_archive_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        inspect_targz(tmp_path / "missing.tar.gz", file="snapshot.tar.gz")
    assert exc.value.file == "snapshot.tar.gz"


def test_deadline(tmp_path: Path) -> None:
    path = write(tmp_path, gz(tar_bytes(good_members())))
    with pytest.raises(DeadlineExceeded):
        inspect_targz(path, deadline=time.monotonic() - 1)
