"""Streaming tar.gz inspection: one pass, nothing extracted, every hostile trick reported.

The file is read once in 1 MiB chunks. Each chunk feeds the whole-file hashers and a gzip inflater
(ISA-L when the `isal` package is installed, else stdlib zlib; multi-member aware, output bounded
per call); the inflated bytes feed a small tar parser written here, because `tarfile` buffers,
follows its own leniencies and cannot hash members while they stream. Per member only a hash
object is kept, so memory does not grow with member size. With a second usable CPU the SHA-256
work runs on a helper thread (in order), overlapping with inflating.

Findings are collected, not raised, so an operator sees every problem at once. A finding that
desynchronises the stream (bad gzip, bad header checksum, bomb) ends parsing; the rest of the file
is still hashed so the caller can compare the whole-file digest.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import queue
import re
import threading
import time
import unicodedata
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final, Literal, Protocol, cast

from webhook.errors import DeadlineExceeded, InputError, IntegrityError
from webhook.integrity.hashing import CHUNK, MultiHasher
from webhook.integrity.pinned import BeneathFile, PinnedFile, PinnedSource


class _Decompressor(Protocol):
    """The part of `zlib.decompressobj()` we use; `isal.isal_zlib` offers the same."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: memoryview | bytes, max_length: int = 0, /) -> bytes: ...


def _zlib_gzip() -> _Decompressor:
    return zlib.decompressobj(31)


_new_gzip: Callable[[], _Decompressor] = _zlib_gzip
_gzip_errors: tuple[type[Exception], ...] = (zlib.error,)
#: which inflater the gate uses: ISA-L (about 2x zlib, same format checks incl. CRC32/ISIZE)
#: when the optional `isal` package is installed, else the stdlib zlib
GZIP_BACKEND = "zlib"
try:
    from isal import isal_zlib as _isal_zlib

    def _isal_gzip() -> _Decompressor:
        return _isal_zlib.decompressobj(wbits=31)

    _new_gzip = _isal_gzip
    _gzip_errors = (zlib.error, cast("type[Exception]", _isal_zlib.error))  # stub: instance
    GZIP_BACKEND = "isal"
except ImportError:  # pragma: no cover - depends on the environment
    pass


def gzip_decompressor() -> _Decompressor:
    """A fresh gzip (wbits=31) decompressor of `GZIP_BACKEND`, e.g. for a benchmark baseline."""
    return _new_gzip()


ArchiveCheck = Literal[
    "archive-invalid",
    "archive-path-traversal",
    "archive-link-escape",
    "archive-special-member",
    "archive-bomb",
    "archive-checksum-mismatch",
    "archive-member-reused",
]

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB
SUMS_NAME: Final = "SHA256SUMS"

#: compressed bytes handed to zlib per call; small enough that `unconsumed_tail` copies stay cheap
_INFLATE_IN: Final = 256 * KiB
#: inflated bytes produced per zlib call: bounds memory even for a 1000:1 bomb
_INFLATE_OUT: Final = 1 * MiB
_BLOCK: Final = 512
_ZERO_BLOCK: Final = bytes(_BLOCK)
_MAX_PAX: Final = 1 * MiB
_MAX_SUMS: Final = 16 * MiB
_MAX_SYMLINK_HOPS: Final = 40
#: hand hashing work to the worker thread at least this often: small hand-offs let the hasher
#: start early and keep the buffers in flight few and cache-warm (4 MiB measured 4-6% slower)
_BATCH_BYTES: Final = 1 * MiB
#: batches waiting for the hash thread; with `_BATCH_BYTES` bounds the inflated data in flight
_QUEUE_DEPTH: Final = 4
#: members at least this big are hashed on the worker thread
_OFFLOAD_MIN: Final = 256 * KiB
#: size of the block freed once to lift glibc's mmap threshold (see `_prime_heap`)
_HEAP_PRIME: Final = 16 * MiB
_GZIP_MAGIC: Final = b"\x1f\x8b"
_OCTAL = re.compile(rb"[0-7]+")
_DRIVE = re.compile(r"[A-Za-z]:")
_SUMS_LINE = re.compile(rb"([0-9a-fA-F]{64}) [ *](.+)")
#: what each tar type flag extracts as, for identity messages
_KINDS: Final = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "character device",
    b"4": "block device",
    b"5": "directory",
    b"6": "FIFO",
}


def _fold(path: str) -> str:
    """The identity of a path on any filesystem an extractor may write to.

    Case-insensitive (macOS, Windows) and normalisation-insensitive (APFS, HFS+) filesystems
    make `Data/x` and `data/x`, or NFC and NFD spellings of one name, the same file; the gate
    does not know where a snapshot is restored, so it takes the widest notion of "same name".
    """
    if path.isascii():
        return path.lower()
    return unicodedata.normalize("NFC", path).casefold()


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds for one archive. The ratio guard only starts after 1 MiB has been inflated."""

    max_members: int = 100_000
    max_expanded_bytes: int = 64 * GiB
    max_ratio: int = 1000
    max_member_name: int = 4096
    #: findings kept in the report; a hostile archive could otherwise make millions
    max_findings: int = 1000


@dataclass(frozen=True)
class ArchiveFinding:
    """One problem: `check` is the reason id, `member` the archive path ('' for the stream)."""

    check: ArchiveCheck
    member: str
    message: str


@dataclass(frozen=True)
class ArchiveReport:
    """What one pass over a tar.gz found. `file_digests` cover the whole compressed file."""

    file_digests: dict[str, str]
    members: int
    expanded_bytes: int
    sums_checked: int
    findings: tuple[ArchiveFinding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    def require_clean(self, *, file: str) -> None:
        """Raise IntegrityError naming the first finding (and how many more) unless clean."""
        if self.findings:
            first = self.findings[0]
            more = (
                f" (and {len(self.findings) - 1} more findings)" if len(self.findings) > 1 else ""
            )
            raise IntegrityError(
                f"[{first.check}] {first.message}{more}", file=file, field=first.member or None
            )


_Job = tuple[Callable[[Any], object], Any]


class _HashWorker:
    """Runs hash updates in submission order, on a helper thread when a second CPU is usable.

    hashlib and zlib release the GIL on large buffers, so hashing members and the whole file on
    a second core overlaps with inflating. Updates are batched (one hand-off per raw chunk or per
    `_BATCH_BYTES`) because each thread hand-off costs a GIL round trip; the queue is short, so at
    most a few MiB of inflated data wait for hashing. Pinned to one CPU, a thread would only add
    switches, so updates then run inline.
    """

    def __init__(self, *, threaded: bool) -> None:
        self._q: queue.Queue[list[_Job] | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._batch: list[_Job] = []
        self._batch_bytes = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="targz-hash", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._q.get()
            if batch is None:
                return
            if self._error is None:
                try:
                    for fn, arg in batch:
                        fn(arg)
                except BaseException as exc:  # re-raised in the caller by close()
                    self._error = exc

    def add(self, fn: Callable[[Any], object], arg: Any, size: int = 0) -> None:
        """Run `fn(arg)` after everything added before it (now, when not threaded)."""
        if self._thread is None:
            fn(arg)
            return
        self._batch.append((fn, arg))
        self._batch_bytes += size
        if self._batch_bytes >= _BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._batch and self._thread is not None:
            self._q.put(self._batch)
            self._batch = []
            self._batch_bytes = 0

    def close(self) -> None:
        """Run everything added so far, stop the thread; re-raise a worker failure."""
        if self._thread is not None:
            self.flush()
            self._q.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


_heap_primed = False


def _prime_heap() -> None:
    """Free one large calloc'd block once, so glibc raises its mmap/trim thresholds.

    Inflating allocates a fresh output buffer per call and the hash thread frees it later; with
    glibc's default 128 KiB mmap threshold the heap top is trimmed and faulted back in over and
    over (17k-23k page faults for 512 MiB, about 10% of the wall time, all on the inflating
    thread). Freeing an mmapped block makes glibc raise the mmap threshold to its size and the
    trim threshold to twice that, as it does on its own after any such free; later runs then
    reuse the heap. `bytes(n)` uses calloc, so no page of the block is touched.
    """
    global _heap_primed  # noqa: PLW0603 - once per process
    if not _heap_primed:
        _heap_primed = True
        block = bytes(_HEAP_PRIME)
        del block


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class _Fatal(Exception):
    """The stream cannot be parsed further; carries the finding that says why."""

    def __init__(self, check: ArchiveCheck, member: str, message: str) -> None:
        super().__init__(message)
        self.finding = ArchiveFinding(check, member, message)


def _number(raw: bytes, what: str, member: str) -> int:
    """A tar numeric field: NUL/space-terminated octal, or GNU base-256 (high bit set)."""
    if raw and raw[0] & 0x80:
        if raw[0] == 0xFF:
            raise _Fatal("archive-invalid", member, f"negative {what} in tar header")
        return int.from_bytes(bytes([raw[0] & 0x7F]) + raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if not _OCTAL.fullmatch(text):
        raise _Fatal("archive-invalid", member, f"{what} field {text[:16]!r} is not octal")
    return int(text, 8)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _parse_pax(data: bytes, member: str) -> dict[str, bytes]:
    """POSIX pax records: `<len> <key>=<value>\\n`, len counting the whole record."""
    out: dict[str, bytes] = {}
    pos = 0
    n = len(data)
    while pos < n:
        if data[pos] == 0:  # some writers pad the record block with NULs
            if data[pos:].strip(b"\0"):
                raise _Fatal("archive-invalid", member, "pax header has data after NUL padding")
            break
        space = data.find(b" ", pos, pos + 20)
        if space < 0 or not data[pos:space].isdigit():
            raise _Fatal("archive-invalid", member, f"malformed pax record at byte {pos}")
        length = int(data[pos:space])
        end = pos + length
        if length <= space - pos + 1 or end > n or data[end - 1] != 0x0A:
            raise _Fatal("archive-invalid", member, f"malformed pax record at byte {pos}")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq:
            raise _Fatal("archive-invalid", member, f"pax record without '=' at byte {pos}")
        out[_decode(key)] = value  # raw bytes: names are compared and checked as bytes
        pos = end
    return out


class _TarScanner:
    """Incremental tar parser: `feed` inflated bytes in any slicing, then `finish`."""

    def __init__(
        self,
        limits: ArchiveLimits,
        report: Callable[[ArchiveFinding], None],
        worker: _HashWorker,
    ) -> None:
        self.limits = limits
        self._report = report
        self._worker = worker
        self.members = 0
        self._offset = 0  # tar stream offset of the next header, for messages
        self._hdr = bytearray()
        self._remaining = 0
        self._pad = 0
        self._sink: Callable[[memoryview], object] | None = None
        self._on_end: Callable[[], None] | None = None
        self._eoa = False
        self._member = ""
        # pending metadata for the next real member
        self._longname: bytes | None = None
        self._longlink: bytes | None = None
        self._pax: dict[str, bytes] = {}
        self._global_pax: dict[str, bytes] = {}
        # collected for end-of-archive checks
        self.digests: dict[str, bytes] = {}
        self._hardlinks: dict[str, str] = {}
        self._symlinks: dict[str, str] = {}
        #: (member, target, is_symlink, hardlink target is an earlier file or hardlink)
        self._link_members: list[tuple[str, str, bool, bool]] = []
        #: folded, symlink-resolved path -> (kind, member name) of the member that claimed it
        self._claimed: dict[str, tuple[str, str]] = {}
        self._sums: bytes | None = None

    # -- streaming ---------------------------------------------------------------------------

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
                    raise _Fatal(
                        "archive-invalid", "", "non-zero data after the tar end-of-archive marker"
                    )
                return
            if self._hdr:
                need = _BLOCK - len(self._hdr)
                self._hdr += mv[pos : pos + need]
                pos = min(n, pos + need)
                if len(self._hdr) < _BLOCK:
                    return
                block = bytes(self._hdr)
                self._hdr.clear()
            elif n - pos >= _BLOCK:
                block = buf[pos : pos + _BLOCK]
                pos += _BLOCK
            else:
                self._hdr += mv[pos:]
                return
            self._header(block)
            self._offset += _BLOCK

    def _end_entry(self) -> None:
        on_end, self._on_end, self._sink = self._on_end, None, None
        if on_end is not None:
            on_end()

    def _start_data(
        self,
        size: int,
        sink: Callable[[memoryview], object] | None,
        on_end: Callable[[], None] | None,
    ) -> None:
        self._offset += size + (-size % _BLOCK)
        self._sink = sink
        self._on_end = on_end
        self._remaining = size
        self._pad = -size % _BLOCK
        if not size:
            self._end_entry()

    def _header(self, block: bytes) -> None:
        if block == _ZERO_BLOCK:
            if self._longname is not None or self._longlink is not None or self._pax:
                raise _Fatal(
                    "archive-invalid",
                    "",
                    "extended header not followed by a member before end of archive",
                )
            self._eoa = True
            return
        where = f"header at tar offset {self._offset}"
        stored = _number(block[148:156], "checksum", where)
        unsigned = sum(block) - sum(block[148:156]) + 8 * 32
        if stored != unsigned:
            signed = unsigned - 256 * sum(1 for b in block if b >= 0x80)
            if stored != signed:
                raise _Fatal(
                    "archive-invalid", "", f"bad tar header checksum at tar offset {self._offset}"
                )
        kind = block[156:157]
        size = _number(block[124:136], "size", where)

        if kind in (b"L", b"K", b"x", b"g"):
            self._meta_record(kind, size)
            return

        # a real member: resolve its name from long-name / pax / ustar prefix
        pax = {**self._global_pax, **self._pax} if self._global_pax else self._pax
        if "path" in pax:
            raw_name = pax["path"]
        elif self._longname is not None:
            raw_name = self._longname
        else:
            raw_name = block[0:100].split(b"\0", 1)[0]
            if block[257:263] == b"ustar\0":
                prefix = block[345:500].split(b"\0", 1)[0]
                if prefix:
                    raw_name = prefix + b"/" + raw_name
        if "linkpath" in pax:
            raw_link = pax["linkpath"]
        elif self._longlink is not None:
            raw_link = self._longlink
        else:
            raw_link = block[157:257].split(b"\0", 1)[0]
        if "size" in pax:
            if not pax["size"].isdigit() or len(pax["size"]) > 20:
                raise _Fatal("archive-invalid", _decode(raw_name), "pax size is not a number")
            size = int(pax["size"])
        sparse = any(k.startswith("GNU.sparse.") for k in pax)
        self._longname = self._longlink = None
        self._pax = {}

        name = _decode(raw_name)
        self._member = name
        self.members += 1
        if self.members > self.limits.max_members:
            raise _Fatal("archive-bomb", name, f"more than {self.limits.max_members} members")
        if size > self.limits.max_expanded_bytes:
            raise _Fatal(
                "archive-bomb",
                name,
                f"member claims {size} bytes, over the "
                f"{self.limits.max_expanded_bytes}-byte expansion limit",
            )
        if kind == b"S":
            raise _Fatal("archive-invalid", name, "GNU sparse members are not supported")
        path, key = self._check_name(raw_name, name)
        if sparse:
            self._finding("archive-invalid", name, "sparse members are not supported")

        if kind == b"\0" and raw_name.endswith(b"/"):
            kind = b"5"  # pre-POSIX directory: old-style regular type with a trailing slash
        self._claim(key, name, _KINDS.get(kind, f"member of type {kind!r}"))
        if kind in (b"0", b"\0", b"7"):
            self._regular(path, name, size)
            return
        if kind == b"1":
            self._link(path, key, name, raw_link, symlink=False)
        elif kind == b"2":
            self._link(path, key, name, raw_link, symlink=True)
        elif kind in (b"3", b"4", b"6"):
            what = {b"3": "character device", b"4": "block device", b"6": "FIFO"}[kind]
            self._finding("archive-special-member", name, f"{what} member")
        elif kind != b"5":
            self._finding("archive-special-member", name, f"unsupported member type {kind!r}")
        self._start_data(size, None, None)

    def _meta_record(self, kind: bytes, size: int) -> None:
        limit = self.limits.max_member_name + 1 if kind in (b"L", b"K") else _MAX_PAX
        if size > limit:
            raise _Fatal(
                "archive-invalid",
                "",
                f"extended header ({kind.decode()}) of {size} bytes at tar offset "
                f"{self._offset}, over the {limit}-byte limit",
            )
        buf = bytearray()

        def done() -> None:
            data = bytes(buf)
            if kind == b"L":
                self._longname = data.split(b"\0", 1)[0]
            elif kind == b"K":
                self._longlink = data.split(b"\0", 1)[0]
            elif kind == b"x":
                self._pax = _parse_pax(data, f"pax header at tar offset {self._offset}")
            else:
                self._global_pax.update(_parse_pax(data, "pax global header"))

        self._start_data(size, buf.extend, done)

    def _regular(self, path: str, name: str, size: int) -> None:
        if path == SUMS_NAME:
            if size > _MAX_SUMS:
                self._finding(
                    "archive-checksum-mismatch",
                    name,
                    f"{SUMS_NAME} is {size} bytes, over the {_MAX_SUMS}-byte limit",
                )
                self._start_data(size, None, None)
                return
            buf = bytearray()

            def sums_done() -> None:
                if self._sums is None:  # a second copy is already an archive-member-reused
                    self._sums = bytes(buf)

            self._start_data(size, buf.extend, sums_done)
            return
        hasher = hashlib.sha256()
        digests = self.digests
        digests[path] = b""  # placeholder until the digest is final
        if size < _OFFLOAD_MIN:

            def done() -> None:
                digests[path] = hasher.digest()

            self._start_data(size, hasher.update, done)
            return
        # large member: hashed on the worker thread, in order, digest stored when done there
        worker = self._worker

        def sink(data: memoryview) -> None:
            worker.add(hasher.update, data, len(data))

        def finalize(_: object) -> None:
            digests[path] = hasher.digest()

        self._start_data(size, sink, lambda: worker.add(finalize, None))

    # -- names and links ---------------------------------------------------------------------

    def _finding(self, check: ArchiveCheck, member: str, message: str) -> None:
        self._report(ArchiveFinding(check, member, message))

    def _check_name(self, raw: bytes, name: str) -> tuple[str, str]:
        """Report unsafe names; return (path, key).

        `path` is the name as an extractor writes it (`./`, empty and `.` components and a
        trailing slash dropped), used for SHA256SUMS and links; `key` is its identity: folded
        (see `_fold`) and with parent symlinks of the archive resolved, so two members with one
        key land on one file.
        """
        if not raw:
            self._finding("archive-invalid", name, "member has an empty name")
        if len(raw) > self.limits.max_member_name:
            self._finding(
                "archive-invalid",
                name[:200] + "...",
                f"member name is {len(raw)} bytes, over {self.limits.max_member_name}",
            )
        if b"\0" in raw:
            self._finding("archive-invalid", name, "member name contains a NUL byte")
        problem = _unsafe_path(raw, name)
        if problem:
            self._finding("archive-path-traversal", name, problem)
        parts = [p for p in name.split("/") if p not in ("", ".")]
        path = "/".join(parts)
        return path, self._key(path, name, report_escape=not problem)

    def _key(self, path: str, name: str, *, report_escape: bool) -> str:
        """The identity of `path`: folded, parent components resolved through archive symlinks."""
        key = _fold(path)
        if not self._symlinks or "/" not in key:
            return key
        parent, _, last = key.rpartition("/")
        real = self._resolve(parent.split("/"))
        if real is None:
            if report_escape:
                self._finding(
                    "archive-link-escape",
                    name,
                    "member is written through a symlink that leads outside the archive root",
                )
            return "/" + key  # outside the root: no path inside (none starts with '/') is it
        return "/".join([*real, last])

    def _claim(self, key: str, name: str, kind: str) -> None:
        """Report a second member on an already claimed path: only one of them is extracted.

        Whatever the types (file, symlink, hardlink, directory), SHA256SUMS and the link checks
        could otherwise vouch for a member other than the one left on disk.
        """
        earlier = self._claimed.get(key)
        if earlier is None:
            self._claimed[key] = (kind, name)
            return
        was, first = earlier
        self._finding(
            "archive-member-reused",
            name,
            f"{kind} lands on the same path as the earlier {was} {first!r}; "
            "extraction keeps only one of them",
        )

    def check_tree(self) -> None:
        """Report members written below a path that another member makes a non-directory.

        Order-independent: a file `a` with a member `a/b` cannot both be extracted, whichever
        comes first. Sorting with `/` as the lowest character puts a path's descendants right
        after it, so this is one sort, not a scan per member.
        """
        order = sorted(self._claimed, key=lambda k: k.replace("/", "\0"))
        for key, nxt in itertools.pairwise(order):
            kind, name = self._claimed[key]
            if kind == "directory" or not nxt.startswith(key + "/" if key else ""):
                continue
            child_kind, child = self._claimed[nxt]
            self._finding(
                "archive-member-reused",
                child,
                f"{child_kind} is written below {kind} {name!r}, which is not a directory: "
                "extraction keeps only one of them",
            )

    def _link(self, path: str, key: str, name: str, raw_target: bytes, *, symlink: bool) -> None:
        target = _decode(raw_target)
        if not raw_target:
            self._finding("archive-invalid", name, "link with an empty target")
            return
        earlier_file = False
        if symlink:
            self._symlinks[_fold(path)] = target
        else:
            real = "/".join(p for p in target.split("/") if p not in ("", "."))
            self._hardlinks[path] = self._hardlinks.get(real, real)
            target_key = self._key(real, name, report_escape=False)
            kind = self._claimed.get(target_key, ("", ""))[0]
            earlier_file = target_key != key and kind in ("file", "hardlink")
        self._link_members.append((path, target, symlink, earlier_file))

    def _inside(self, parts: Iterable[str]) -> bool:
        return self._resolve(parts) is not None

    def _resolve(self, parts: Iterable[str]) -> list[str] | None:
        """Resolve folded path components from the root through archive symlinks (bounded).

        None when the path leaves the root (or loops); else the components it lands on.
        """
        stack: list[str] = []
        todo = deque(parts)
        hops = 0
        while todo:
            comp = todo.popleft()
            if comp in ("", "."):
                continue
            if comp == "..":
                if not stack:
                    return None
                stack.pop()
                continue
            stack.append(comp)
            target = self._symlinks.get("/".join(stack)) if self._symlinks else None
            if target is None:
                continue
            hops += 1
            if hops > _MAX_SYMLINK_HOPS or target.startswith("/") or "\\" in target:
                return None
            stack.pop()
            todo.extendleft(reversed(_fold(target).split("/")))
        return stack

    def _check_links(self) -> None:
        for path, target, symlink, earlier_file in self._link_members:
            kind = "symlink" if symlink else "hardlink"
            if target.startswith("/") or _DRIVE.match(target):
                self._finding("archive-link-escape", path, f"{kind} to absolute path {target!r}")
                continue
            if "\\" in target:
                self._finding(
                    "archive-link-escape", path, f"{kind} target {target!r} contains a backslash"
                )
                continue
            # symlinks resolve from the member's directory, hardlinks from the archive root
            base = _fold(path).split("/")[:-1] if symlink else []
            if not self._inside([*base, *_fold(target).split("/")]):
                self._finding(
                    "archive-link-escape",
                    path,
                    f"{kind} target {target!r} resolves outside the archive root",
                )
            elif not symlink and not earlier_file:
                self._finding(
                    "archive-link-escape",
                    path,
                    f"hardlink target {target!r} is not an earlier file of the archive "
                    "(an extractor would link whatever is at that path on the restore host)",
                )

    # -- end of stream -----------------------------------------------------------------------

    def finish(self) -> None:
        """Raise _Fatal if the tar stream ended early; otherwise nothing is pending."""
        if self._remaining or self._pad:
            raise _Fatal(
                "archive-invalid", self._member, "truncated tar: stream ends inside a member"
            )
        if self._hdr:
            raise _Fatal("archive-invalid", "", "truncated tar: stream ends inside a header")
        if not self._eoa:
            raise _Fatal("archive-invalid", "", "truncated tar: no end-of-archive marker")

    def check_links(self) -> None:
        self._check_links()

    def check_sums(self) -> int:
        """Compare SHA256SUMS (if present) with the member digests; return entries matched."""
        if self._sums is None:
            return 0
        listed: dict[str, str] = {}
        for lineno, line in enumerate(self._sums.split(b"\n"), start=1):
            line = line.removesuffix(b"\r")  # noqa: PLW2901
            if not line.strip():
                continue
            escaped = line.startswith(b"\\")
            m = _SUMS_LINE.fullmatch(line[1:] if escaped else line)
            if m is None:
                self._finding(
                    "archive-checksum-mismatch",
                    SUMS_NAME,
                    f"{SUMS_NAME} line {lineno} is not '<sha256>  <name>'",
                )
                continue
            raw = m.group(2)
            if escaped:
                raw = raw.replace(b"\\\\", b"\0").replace(b"\\n", b"\n").replace(b"\0", b"\\")
            name = _decode(raw)
            problem = _unsafe_path(raw, name)
            path = "/".join(p for p in name.split("/") if p not in ("", "."))
            if problem or not path:
                self._finding(
                    "archive-checksum-mismatch",
                    name,
                    f"{SUMS_NAME} line {lineno} names an unsafe path",
                )
                continue
            if path in listed:
                self._finding(
                    "archive-checksum-mismatch",
                    name,
                    f"{SUMS_NAME} lists this name twice (line {lineno})",
                )
                continue
            listed[path] = m.group(1).decode("ascii").lower()
        matched = 0
        for path, want in listed.items():
            real = self._hardlinks.get(path, path)
            got = self.digests.get(real)
            if got is None:
                self._finding(
                    "archive-checksum-mismatch",
                    path,
                    f"listed in {SUMS_NAME} but not a regular member of the archive",
                )
            elif not hmac.compare_digest(got.hex(), want):
                self._finding(
                    "archive-checksum-mismatch",
                    path,
                    f"sha256 is {got.hex()}, {SUMS_NAME} says {want}",
                )
            else:
                matched += 1
        for path in self.digests:
            if path not in listed:
                self._finding(
                    "archive-checksum-mismatch", path, f"regular member not listed in {SUMS_NAME}"
                )
        return matched


def _unsafe_path(raw: bytes, name: str) -> str | None:
    """Why a member path could land outside the extraction root, or None."""
    if name.startswith("/"):
        return "absolute path"
    if b"\\" in raw:
        return "backslash in member name (a path separator on Windows)"
    if _DRIVE.match(name):
        return "Windows drive-letter path"
    if ".." in name.split("/"):
        return "'..' path component"
    return None


class _Inflater:
    """Multi-member gzip -> bytes, bounded output per call, with bomb guards."""

    def __init__(self, limits: ArchiveLimits, sink: Callable[[bytes], None]) -> None:
        self.limits = limits
        self._sink = sink
        self._d = _new_gzip()
        self._gz_members = 1
        self._member_in = 0  # compressed bytes consumed by the current gzip member
        self.compressed = 0
        self.expanded = 0

    def feed(self, chunk: bytes) -> None:
        mv = memoryview(chunk)
        for start in range(0, len(mv), _INFLATE_IN):
            self._feed(mv[start : start + _INFLATE_IN])

    def _feed(self, data: memoryview | bytes) -> None:
        while data:
            if self._d.eof:
                if self._gz_members >= self.limits.max_members:
                    raise _Fatal(
                        "archive-bomb", "", f"more than {self.limits.max_members} gzip members"
                    )
                self._d = _new_gzip()
                self._gz_members += 1
                self._member_in = 0
            if self._member_in == 0 and not _GZIP_MAGIC.startswith(bytes(data[:2])):
                if self._gz_members == 1:
                    raise _Fatal("archive-invalid", "", "not a gzip file (no gzip magic bytes)")
                raise _Fatal(
                    "archive-invalid",
                    "",
                    f"trailing bytes after the gzip stream at byte {self.compressed}",
                )
            try:
                out = self._d.decompress(data, _INFLATE_OUT)
            except _gzip_errors as exc:
                raise _Fatal("archive-invalid", "", f"corrupt gzip data ({exc})") from None
            rest = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            used = len(data) - len(rest)
            if not out and not used and not self._d.eof:
                raise _Fatal("archive-invalid", "", "gzip stream makes no progress")
            self.compressed += used
            self._member_in += used
            data = rest
            if out:
                self.expanded += len(out)
                self._check_bomb()
                self._sink(out)

    def _check_bomb(self) -> None:
        lim = self.limits
        if self.expanded > lim.max_expanded_bytes:
            raise _Fatal("archive-bomb", "", f"expands to more than {lim.max_expanded_bytes} bytes")
        if self.expanded > MiB and self.expanded > lim.max_ratio * max(self.compressed, 1):
            raise _Fatal(
                "archive-bomb",
                "",
                f"expansion ratio over {lim.max_ratio}:1 "
                f"({self.expanded} bytes from {self.compressed})",
            )

    def finish(self) -> None:
        if not self._d.eof:
            if self.compressed == 0:
                raise _Fatal("archive-invalid", "", "empty file, not a gzip archive")
            raise _Fatal("archive-invalid", "", "truncated gzip stream")


def inspect_targz(
    source: Path | BinaryIO | PinnedSource,
    *,
    limits: ArchiveLimits = ArchiveLimits(),
    file_algorithms: Iterable[str] = ("sha256",),
    file: str | None = None,
    deadline: float | None = None,
) -> ArchiveReport:
    """Inspect a tar.gz in one streaming pass; see the module docstring.

    `file` names the archive in errors (default: the path's name). Raises InputError if the
    source cannot be read, DeadlineExceeded past `deadline` (a `time.monotonic()` value);
    everything wrong with the *content* is a finding in the report.
    """
    owned = isinstance(source, (Path, PinnedFile, BeneathFile))
    name = file if file is not None else (source.name if owned else "archive")
    hashers = MultiHasher(file_algorithms)
    findings: list[ArchiveFinding] = []
    suppressed: list[ArchiveFinding] = []

    def report(f: ArchiveFinding) -> None:
        (findings if len(findings) < limits.max_findings else suppressed).append(f)

    try:
        if isinstance(source, Path):
            fh: BinaryIO = source.open("rb", buffering=0)
        elif isinstance(source, (PinnedFile, BeneathFile)):
            fh = cast("BinaryIO", source.reader())
        else:
            fh = cast("BinaryIO", source)
    except OSError as exc:
        raise InputError(f"cannot open archive: {exc.strerror or exc}", file=name) from None
    _prime_heap()
    worker = _HashWorker(threaded=_usable_cpus() > 1)
    scanner = _TarScanner(limits, report, worker)
    inflater = _Inflater(limits, scanner.feed)
    fatal: _Fatal | None = None
    try:
        while True:
            try:
                chunk = fh.read(CHUNK)
            except OSError as exc:
                raise InputError(f"cannot read archive: {exc.strerror or exc}", file=name) from None
            if not chunk:
                break
            worker.add(hashers.update, chunk, len(chunk))
            if fatal is None:
                try:
                    inflater.feed(chunk)
                except _Fatal as exc:
                    fatal = exc
            worker.flush()
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded("deadline passed while inspecting the archive", file=name)
    finally:
        worker.close()
        if owned:
            fh.close()
    if fatal is None:
        try:
            inflater.finish()
            scanner.finish()
        except _Fatal as exc:
            fatal = exc
    if fatal is not None:
        report(fatal.finding)
    scanner.check_links()
    scanner.check_tree()
    sums_checked = scanner.check_sums() if fatal is None else 0
    if suppressed:
        findings.append(
            ArchiveFinding(suppressed[0].check, "", f"{len(suppressed)} more findings not shown")
        )
    return ArchiveReport(
        file_digests=hashers.hexdigests(),
        members=scanner.members,
        expanded_bytes=inflater.expanded,
        sums_checked=sums_checked,
        findings=tuple(findings),
    )
