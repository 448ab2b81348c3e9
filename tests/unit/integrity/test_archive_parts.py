"""Each part of the archive inspector on its own: inflater, tar parser, hash worker, names, sums.

`test_archive.py` and `test_archive_identity.py` test the recipe (`inspect_targz`) end to end;
here every module is driven directly, so a defect is pinned to the part that has it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading

import pytest

from tests.unit.integrity.tarkit import M, gz, header_checksum, set_field, sums, tar_bytes
from webhook.integrity.archive import inflate
from webhook.integrity.archive.inflate import INFLATE_OUT, Inflater
from webhook.integrity.archive.members import MemberNames, fold, unsafe_path
from webhook.integrity.archive.model import ArchiveFinding, ArchiveLimits, Fatal, MiB
from webhook.integrity.archive.sums import check_sums
from webhook.integrity.archive.tar import TarMember, TarParser, number, parse_pax
from webhook.integrity.archive.worker import HashWorker

# --- inflate ---------------------------------------------------------------------------------


def inflate_all(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    inf = Inflater(ArchiveLimits(), out.append)
    inf.feed(data)
    inf.finish()
    return out


@pytest.mark.parametrize("backend", ["zlib", "default"])
def test_inflater_joins_gzip_members_and_bounds_each_output(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "zlib":
        monkeypatch.setattr(inflate, "_new_gzip", inflate._zlib_gzip)
    payload = bytes(range(256)) * (12 * 4096)  # 12 MiB, compressible
    out = inflate_all(gz(payload[:5000]) + gz(payload[5000:]))
    assert b"".join(out) == payload
    assert max(map(len, out)) <= INFLATE_OUT


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file, not a gzip archive"),
        (b"PK\x03\x04", "not a gzip file"),
        (gz(b"x" * 100)[:-3], "truncated gzip stream"),
        (gz(b"x") + b"junk", "trailing bytes after the gzip stream"),
    ],
)
def test_inflater_refuses_what_is_not_one_gzip_stream(data: bytes, message: str) -> None:
    with pytest.raises(Fatal, match=message) as exc:
        inflate_all(data)
    assert exc.value.finding.check == "archive-invalid"


def test_inflater_stops_a_ratio_bomb_before_inflating_it() -> None:
    data = gzip.compress(bytes(64 * MiB), 9)
    assert len(data) < 100_000
    got: list[int] = []
    inf = Inflater(ArchiveLimits(max_ratio=100), lambda b: got.append(len(b)))
    with pytest.raises(Fatal, match="expansion ratio over 100:1") as exc:
        inf.feed(data)
    assert exc.value.finding.check == "archive-bomb"
    assert sum(got) < 4 * MiB


# --- tar parser ------------------------------------------------------------------------------


def parse(tar: bytes, step: int = 0) -> tuple[list[TarMember], dict[str, bytes]]:
    members: list[TarMember] = []
    data: dict[str, bytes] = {}

    def on_member(m: TarMember) -> tuple[object, object]:
        members.append(m)
        buf = bytearray()

        def done() -> None:
            data[m.name] = bytes(buf)

        return buf.extend, done

    parser = TarParser(on_member, max_name=4096)  # type: ignore[arg-type]
    if step:
        for i in range(0, len(tar), step):
            parser.feed(tar[i : i + step])
    else:
        parser.feed(tar)
    parser.finish()
    return members, data


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
@pytest.mark.parametrize("step", [0, 7, 511, 513])
def test_parser_agrees_with_tarfile(fmt: int, step: int) -> None:
    """Differential: names, types, sizes, link targets and data as the stdlib reads them."""
    long = "d/" + "n" * 90 + "/" + "m" * 60  # needs a ustar prefix, a GNU L or a pax path
    ms = [
        M("d", kind=tarfile.DIRTYPE),
        M(long, b"long" * 300),
        M("d/l", kind=tarfile.SYMTYPE, link="../" + "t" * 40),
        M("d/h", kind=tarfile.LNKTYPE, link="f" if fmt == tarfile.USTAR_FORMAT else long),
        M("f", b""),
        M("fifo", kind=tarfile.FIFOTYPE),
    ]
    tar = tar_bytes(ms, fmt=fmt)
    members, data = parse(tar, step)
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        want = [(i.name, i.type, i.size, i.linkname) for i in tf.getmembers()]
        want_data = {i.name: tf.extractfile(i).read() for i in tf.getmembers() if i.isfile()}  # type: ignore[union-attr]
    got = [(m.name.rstrip("/"), m.kind, m.size, m.raw_link.decode()) for m in members]
    assert got == want
    assert {k: v for k, v in data.items() if k in want_data} == want_data


def test_parser_reports_an_old_style_directory_as_a_directory() -> None:
    tar = tar_bytes([M("old/", kind=tarfile.AREGTYPE)], fmt=tarfile.GNU_FORMAT)
    [m], _ = parse(tar)
    assert (m.name, m.kind) == ("old/", b"5")


@pytest.mark.parametrize(
    ("cut", "message"),
    [(700, "inside a member"), (100, "inside a header"), (1536, "no end-of-archive marker")],
)
def test_parser_finish_refuses_a_truncated_stream(cut: int, message: str) -> None:
    tar = tar_bytes([M("a", b"x" * 600)], fmt=tarfile.USTAR_FORMAT)
    with pytest.raises(Fatal, match=message):
        parse(tar[:cut])


def test_number_and_pax_fields() -> None:
    assert number(b"0000644\0", "mode", "m") == 0o644
    assert number(b"\x80" + (5).to_bytes(11, "big"), "size", "m") == 5
    assert number(b"   \0", "size", "m") == 0
    with pytest.raises(Fatal, match="not octal"):
        number(b"12389\0", "size", "m")
    with pytest.raises(Fatal, match="negative"):
        number(b"\xff" * 12, "size", "m")
    assert parse_pax(b"11 path=ab\n" + b"\0" * 5, "p") == {"path": b"ab"}
    for bad in (b"99 path=ab\n", b"10 pathab\n\n", b"x path=a\n", b"11 path=ab\nzz"):
        with pytest.raises(Fatal):
            parse_pax(bad, "p")


# --- hash worker -----------------------------------------------------------------------------


@pytest.mark.parametrize("threaded", [True, False])
def test_worker_runs_updates_in_order_and_stops(threaded: bool) -> None:
    before = threading.active_count()
    worker = HashWorker(threaded=threaded)
    h = hashlib.sha256()
    chunks = [bytes([i]) * (300 * 1024) for i in range(20)]
    for c in chunks:
        worker.add(h.update, memoryview(c), len(c))
    worker.close()
    assert h.digest() == hashlib.sha256(b"".join(chunks)).digest()
    assert threading.active_count() == before


def test_worker_reraises_a_failure_in_close() -> None:
    worker = HashWorker(threaded=True)

    def boom(_: object) -> None:
        raise RuntimeError("hash failed")

    worker.add(boom, None)
    with pytest.raises(RuntimeError, match="hash failed"):
        worker.close()


# --- member names ----------------------------------------------------------------------------


def test_fold_and_unsafe_path() -> None:
    assert fold("Data/X") == fold("data/x")
    assert fold("caf\u00e9") == fold("cafe\u0301")
    assert fold("STRASSE") == fold("stra\u00dfe")
    assert unsafe_path(b"/etc", "/etc") == "absolute path"
    assert unsafe_path(b"a/../b", "a/../b") == "'..' path component"
    assert unsafe_path(b"C:x", "C:x") == "Windows drive-letter path"
    assert unsafe_path(b"a\\b", "a\\b") is not None
    assert unsafe_path(b"a/..b", "a/..b") is None


def test_member_names_ledger_directly() -> None:
    found: list[ArchiveFinding] = []
    names = MemberNames(max_name=4096, report=found.append)
    for raw, kind in [(b"./a/", "directory"), (b"a/f", "file"), (b"A//F", "symlink")]:
        _, key = names.check_name(raw, raw.decode())
        names.claim(key, raw.decode(), kind)
    assert [(f.check, f.member) for f in found] == [("archive-member-reused", "A//F")]


# --- SHA256SUMS ------------------------------------------------------------------------------


def test_check_sums_directly() -> None:
    found: list[ArchiveFinding] = []
    digests = {"a": hashlib.sha256(b"1").digest(), "b": hashlib.sha256(b"2").digest()}
    body = sums({"a": b"1", "h": b"1", "b": b"changed"}) + b"garbage\n"
    matched = check_sums(body, digests, {"h": "a"}, found.append)
    assert matched == 2
    assert [(f.member, f.message.split(",")[0]) for f in found] == [
        ("SHA256SUMS", "SHA256SUMS line 4 is not '<sha256>  <name>'"),
        ("b", f"sha256 is {digests['b'].hex()}"),
    ]


# --- headers extractors would refuse (found by the tar fuzzer, tests/fuzz/regressions/tar) ---


def test_parser_refuses_an_extended_header_left_without_a_member() -> None:
    """An empty pax record block, then end of archive: tarfile raises, so must the gate."""
    pax = bytearray(512)
    pax[0:9] = b"PaxHeader"
    pax[100:108] = b"0000644\0"
    pax[124:136] = b"00000000000\0"
    pax[156:157] = b"x"
    pax[257:263] = b"ustar\0"
    header_checksum(pax)
    for kind in (b"x", b"g", b"L"):
        block = bytearray(pax)
        block[156:157] = kind
        header_checksum(block)
        with pytest.raises(Fatal, match="extended header not followed by a member"):
            parse(bytes(block) + bytes(1024))


@pytest.mark.parametrize(
    ("start", "value", "field"),
    [
        (337, b"\x01\0", "devminor"),
        (329, b"12x\0", "devmajor"),
        (100, b"-644\0", "mode"),
        (136, b"0o777\0", "mtime"),
        (108, b"1_0\0", "uid"),
    ],
)
def test_parser_refuses_a_bad_numeric_field_it_does_not_use(
    start: int, value: bytes, field: str
) -> None:
    tar = set_field(tar_bytes([M("a", b"x")], fmt=tarfile.USTAR_FORMAT), 0, start, value)
    with pytest.raises(Fatal, match=f"{field} field .* is not octal"):
        parse(tar)


def test_base256_is_only_0x80_or_0xff() -> None:
    """tarfile reads a size field starting 0x81 as text (and fails); so does the gate."""
    with pytest.raises(Fatal, match="is not octal"):
        number(b"\x81" + bytes(10) + b"\x05", "size", "m")


def test_all_member_names_together_are_bounded() -> None:
    """Names are kept to the end (digests, identities): their total is a bomb limit too."""
    from webhook.integrity import inspect_targz

    ms = [M(f"d/{'n' * 200}{i}", b"") for i in range(50)]
    data = gz(tar_bytes(ms))
    assert inspect_targz(io.BytesIO(data), limits=ArchiveLimits(max_name_bytes=20_000)).ok
    report = inspect_targz(io.BytesIO(data), limits=ArchiveLimits(max_name_bytes=5_000))
    assert [(f.check, f.message) for f in report.findings] == [
        ("archive-bomb", "member names and link targets exceed 5000 bytes")
    ]
