"""Incremental tar parser (ustar, pax, GNU long names): inflated bytes in, members out.

Written here rather than using `tarfile`, which buffers, follows its own leniencies and cannot
hash members while they stream. Feed bytes in any slicing; for each real member the parser calls
`on_member(TarMember)`, which returns where that member's data goes (a sink per slice and an
end callback, or None to skip it). Extended headers (pax `x`/`g`, GNU `L`/`K`) are consumed here
and applied to the next member. Anything that desynchronises the stream raises `Fatal`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from webhook.integrity.archive.model import Fatal, MiB

BLOCK: Final = 512
_ZERO_BLOCK: Final = bytes(BLOCK)
_MAX_PAX: Final = 1 * MiB
_OCTAL = re.compile(rb"[0-7]+")
#: an octal numeric field as every reader accepts it: spaces, digits, spaces, then NUL and anything
_OCTAL_FIELD = re.compile(rb" *[0-7]* *(?:\0.*)?", re.DOTALL)
#: (start, end, what) of the numeric fields the parser does not otherwise read
_OTHER_NUMBERS: Final = (
    (100, 108, "mode"),
    (108, 116, "uid"),
    (116, 124, "gid"),
    (136, 148, "mtime"),
    (329, 337, "devmajor"),
    (337, 345, "devminor"),
)
#: how writers fill those fields (zero-padded octal, NUL/space-terminated; GNU leaves the device
#: numbers of a non-device all NUL): three matches instead of six on the per-header path
_COMMON_IDS = re.compile(rb"(?:[0-7]{7}[\0 ]){3}")  # mode, uid, gid (100:124)
_COMMON_MTIME = re.compile(rb"[0-7]{11}[\0 ]")  # 136:148
_COMMON_DEV = re.compile(rb"(?:[0-7]{7}[\0 ]|\0{8}){2}")  # 329:345
#: first bytes of a GNU base-256 number (positive, negative)
_BASE256: Final = (0x80, 0xFF)
_EXTENDED: Final = (b"L", b"K", b"x", b"g")

Sink = Callable[[memoryview], object]
OnEnd = Callable[[], None]


@dataclass(frozen=True, slots=True)
class TarMember:
    """One real member as its headers describe it (names raw, as bytes, and decoded)."""

    raw_name: bytes
    name: str
    #: the type flag; a pre-POSIX directory (old regular type, trailing slash) is reported as b"5"
    kind: bytes
    size: int
    raw_link: bytes
    #: pax GNU.sparse.* records were present
    sparse: bool


OnMember = Callable[[TarMember], tuple[Sink | None, OnEnd | None]]


def decode(raw: bytes) -> str:
    """A name for messages and paths: UTF-8, undecodable bytes shown escaped."""
    return raw.decode("utf-8", "backslashreplace")


def number(raw: bytes, what: str, member: str) -> int:
    """A tar numeric field: NUL/space-terminated octal, or GNU base-256 (high bit set)."""
    if raw and raw[0] in _BASE256:
        if raw[0] == 0xFF:
            raise Fatal("archive-invalid", member, f"negative {what} in tar header")
        return int.from_bytes(bytes([raw[0] & 0x7F]) + raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if not _OCTAL.fullmatch(text):
        raise Fatal("archive-invalid", member, f"{what} field {text[:16]!r} is not octal")
    return int(text, 8)


def check_numbers(block: bytes, where: str) -> None:
    """Refuse a header whose unused numeric fields are not numbers.

    The gate never reads mode, owner or times, but extractors do, and `tarfile` refuses the
    whole archive over one bad field: a header the gate calls clean must be one they all read.
    """
    if (
        _COMMON_IDS.fullmatch(block, 100, 124)
        and _COMMON_MTIME.fullmatch(block, 136, 148)
        and _COMMON_DEV.fullmatch(block, 329, 345)
    ):
        return
    for start, end, what in _OTHER_NUMBERS:
        if block[start] not in _BASE256 and not _OCTAL_FIELD.fullmatch(block, start, end):
            text = block[start:end].split(b"\0", 1)[0]
            raise Fatal("archive-invalid", "", f"{what} field {text!r} of the {where} is not octal")


def parse_pax(data: bytes, member: str) -> dict[str, bytes]:
    """POSIX pax records: `<len> <key>=<value>\\n`, len counting the whole record."""
    out: dict[str, bytes] = {}
    pos = 0
    n = len(data)
    while pos < n:
        if data[pos] == 0:  # some writers pad the record block with NULs
            if data[pos:].strip(b"\0"):
                raise Fatal("archive-invalid", member, "pax header has data after NUL padding")
            break
        space = data.find(b" ", pos, pos + 20)
        if space < 0 or not data[pos:space].isdigit():
            raise Fatal("archive-invalid", member, f"malformed pax record at byte {pos}")
        length = int(data[pos:space])
        end = pos + length
        if length <= space - pos + 1 or end > n or data[end - 1] != 0x0A:
            raise Fatal("archive-invalid", member, f"malformed pax record at byte {pos}")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise Fatal("archive-invalid", member, f"pax record without '=' at byte {pos}")
        out[decode(key)] = value  # raw bytes: names are compared and checked as bytes
        pos = end
    return out


class TarParser:
    """Incremental tar parser: `feed` inflated bytes in any slicing, then `finish`."""

    def __init__(self, on_member: OnMember, *, max_name: int) -> None:
        self._on_member = on_member
        self._max_name = max_name
        self._offset = 0  # tar stream offset of the next header, for messages
        self._hdr = bytearray()
        self._remaining = 0
        self._pad = 0
        self._sink: Sink | None = None
        self._on_end: OnEnd | None = None
        self._eoa = False
        self._member = ""
        # pending metadata for the next real member
        self._longname: bytes | None = None
        self._longlink: bytes | None = None
        self._pax: dict[str, bytes] = {}
        self._global_pax: dict[str, bytes] = {}
        #: an extended header was read and no member has used it yet
        self._pending = False

    def feed(self, buf: bytes) -> None:
        n = len(buf)
        pos = 0
        mv = memoryview(buf)
        while pos < n:
            if self._remaining:
                take = min(self._remaining, n - pos)
                if self._sink is not None:
                    self._sink(mv[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._end_entry()
                continue
            if self._pad:
                take = min(self._pad, n - pos)
                pos += take
                self._pad -= take
                continue
            if self._eoa:
                tail = buf[pos:] if pos else buf
                if tail.count(0) != len(tail):
                    raise Fatal(
                        "archive-invalid", "", "non-zero data after the tar end-of-archive marker"
                    )
                return
            if self._hdr:
                need = BLOCK - len(self._hdr)
                self._hdr += mv[pos : pos + need]
                pos = min(n, pos + need)
                if len(self._hdr) < BLOCK:
                    return
                block = bytes(self._hdr)
                self._hdr.clear()
            elif n - pos >= BLOCK:
                block = buf[pos : pos + BLOCK]
                pos += BLOCK
            else:
                self._hdr += mv[pos:]
                return
            self._header(block)
            self._offset += BLOCK

    def finish(self) -> None:
        """Raise Fatal if the tar stream ended early; otherwise nothing is pending."""
        if self._remaining or self._pad:
            raise Fatal(
                "archive-invalid", self._member, "truncated tar: stream ends inside a member"
            )
        if self._hdr:
            raise Fatal("archive-invalid", "", "truncated tar: stream ends inside a header")
        if not self._eoa:
            raise Fatal("archive-invalid", "", "truncated tar: no end-of-archive marker")

    def _end_entry(self) -> None:
        on_end, self._on_end, self._sink = self._on_end, None, None
        if on_end is not None:
            on_end()

    def _start_data(self, size: int, sink: Sink | None, on_end: OnEnd | None) -> None:
        self._offset += size + (-size % BLOCK)
        self._sink = sink
        self._on_end = on_end
        self._remaining = size
        self._pad = -size % BLOCK
        if not size:
            self._end_entry()

    def _header(self, block: bytes) -> None:
        if block == _ZERO_BLOCK:
            self._end_of_archive()
            return
        where = f"header at tar offset {self._offset}"
        self._check_checksum(block, where)
        check_numbers(block, where)
        kind = block[156:157]
        size = number(block[124:136], "size", where)

        if kind in _EXTENDED:
            self._meta_record(kind, size)
            return

        # a real member: resolve its name from long-name / pax / ustar prefix
        pax = {**self._global_pax, **self._pax} if self._global_pax else self._pax
        raw_name = self._member_name(block, pax)
        raw_link = self._member_link(block, pax)
        if "size" in pax:
            size = _pax_size(pax["size"], raw_name)
        sparse = any(k.startswith("GNU.sparse.") for k in pax)
        self._longname = self._longlink = None
        self._pax = {}
        self._pending = False
        if kind == b"\0" and raw_name.endswith(b"/"):
            kind = b"5"  # pre-POSIX directory: old-style regular type with a trailing slash

        name = decode(raw_name)
        self._member = name
        sink, on_end = self._on_member(TarMember(raw_name, name, kind, size, raw_link, sparse))
        self._start_data(size, sink, on_end)

    def _end_of_archive(self) -> None:
        """A zero block: the end-of-archive marker, never right after an extended header."""
        if self._pending:
            raise Fatal(
                "archive-invalid",
                "",
                "extended header not followed by a member before end of archive",
            )
        self._eoa = True

    def _check_checksum(self, block: bytes, where: str) -> None:
        """The header checksum, as unsigned bytes or (old tars) as signed ones."""
        stored = number(block[148:156], "checksum", where)
        unsigned = sum(block) - sum(block[148:156]) + 8 * 32
        if stored != unsigned:
            signed = unsigned - 256 * sum(1 for b in block if b >= 0x80)
            if stored != signed:
                raise Fatal(
                    "archive-invalid", "", f"bad tar header checksum at tar offset {self._offset}"
                )

    def _member_name(self, block: bytes, pax: Mapping[str, bytes]) -> bytes:
        """pax path, else a GNU long name, else the ustar name with its prefix."""
        if "path" in pax:
            return pax["path"]
        if self._longname is not None:
            return self._longname
        raw_name = block[0:100].split(b"\0", 1)[0]
        if block[257:263] == b"ustar\0":
            prefix = block[345:500].split(b"\0", 1)[0]
            if prefix:
                raw_name = prefix + b"/" + raw_name
        return raw_name

    def _member_link(self, block: bytes, pax: Mapping[str, bytes]) -> bytes:
        """pax linkpath, else a GNU long link, else the header's link name."""
        if "linkpath" in pax:
            return pax["linkpath"]
        if self._longlink is not None:
            return self._longlink
        return block[157:257].split(b"\0", 1)[0]

    def _meta_record(self, kind: bytes, size: int) -> None:
        limit = self._max_name + 1 if kind in (b"L", b"K") else _MAX_PAX
        if size > limit:
            raise Fatal(
                "archive-invalid",
                "",
                f"extended header ({kind.decode()}) of {size} bytes at tar offset "
                f"{self._offset}, over the {limit}-byte limit",
            )
        buf = bytearray()
        self._pending = True

        def done() -> None:
            data = bytes(buf)
            if kind == b"L":
                self._longname = data.split(b"\0", 1)[0]
            elif kind == b"K":
                self._longlink = data.split(b"\0", 1)[0]
            elif kind == b"x":
                self._pax = parse_pax(data, f"pax header at tar offset {self._offset}")
            else:
                self._global_pax.update(parse_pax(data, "pax global header"))

        self._start_data(size, buf.extend, done)


def _pax_size(value: bytes, raw_name: bytes) -> int:
    """A pax size record: ASCII digits only, at most 20 of them."""
    if not value.isdigit() or len(value) > 20:
        raise Fatal("archive-invalid", decode(raw_name), "pax size is not a number")
    return int(value)
