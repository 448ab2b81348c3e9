"""Streaming multipart/form-data intake: small parts in memory, large ones spooled to disk.

A snapshot can be many GiB, so its part is written to a private temp directory (under the state
dir, removed after the decision) as it arrives; memory stays bounded by the chunk size. File
writes happen in a worker thread, in 1 MiB batches, so the event loop never blocks on disk.

Most uploads are a few KiB (a migration is three small files), and python-multipart's
byte-level state machine and callbacks cost more than everything else the API door does for
them. So a body that ends within `WHOLE_BODY_BYTES` is first split in one pass with
`bytes.find` (`split_multipart`), which accepts only the plain, unambiguous shape that
python-multipart parses identically; the parts then go through the very same callbacks (limits,
names, duplicates, spooling). Anything else - a longer body, a preamble, odd header syntax,
padding after a boundary, truncation - is fed to python-multipart chunk by chunk exactly as if
it had streamed, so every error message and its order is unchanged.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import Receive, Scope

from webhook.server.http import (
    HTTPError,
    body_chunks,
    check_length,
    lone_surrogate_at,
    scope_headers,
)

FLUSH_BYTES = 1024 * 1024
MAX_PARTS = 1100  # a few files plus up to ~1000 WAL segments
MAX_NAME = 255
#: a body that ends within this many bytes is held and split in one pass (see module doc)
WHOLE_BODY_BYTES = 1024 * 1024
#: boundaries up to RFC 2046's 70 bytes skip building python-multipart's parser until needed;
#: longer ones build it at once, so an over-long boundary fails exactly as before
LAZY_BOUNDARY = 70
#: the one-pass split declines headers beyond these (python-multipart allows 8 of 4224 bytes)
FAST_MAX_HEADERS = 8
FAST_MAX_HEADER_LINE = 1024
FAST_MAX_PARTS = 64
_HEADER_NAME_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-"
#: Content-Disposition values seen before -> (name, filename)
# memo: pure, bounded (MAX_MEMO, cleared when full); measured 3.9 -> 0.1 us a part
_DISPOSITIONS: dict[bytes, tuple[str, str | None]] = {}
MAX_MEMO = 256
MAX_MEMO_VALUE = 1024


@dataclass
class Part:
    """One received part: bytes in memory, or a path on disk."""

    name: str
    filename: str | None
    size: int = 0
    data: bytearray | None = None
    path: Path | None = None
    _fh: BinaryIO | None = None
    _pending: list[bytes] = field(default_factory=list)
    _pending_size: int = 0
    done: bool = False
    closed: bool = False

    def value(self) -> bytes | Path:
        if self.path is not None:
            return self.path
        return bytes(self.data or b"")


class SpoolBudget:
    """Bytes all uploads in flight may spool, together (`--spool-max-bytes`).

    The spool is an emptyDir with a sizeLimit in Kubernetes: passing it evicts the pod, and on
    a plain disk a full spool fails every write. So an upload that would pass the budget is
    refused (507) before its bytes are written. Used on the event loop only (no lock)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    def reserve(self, size: int) -> None:
        if self.used + size > self.max_bytes:
            raise HTTPError(
                507,
                "insufficient-storage",
                f"the upload spool is full ({self.used} of {self.max_bytes} bytes held by "
                "uploads in flight): try again later",
            )
        self.used += size

    def release(self, size: int) -> None:
        self.used = max(0, self.used - size)


@dataclass
class Upload:
    """Every part by its field name; WAL files by their WAL name. `close()` removes the spool."""

    files: dict[str, Part]
    wal: dict[str, Part]
    spool: Path
    reader: MultipartReader | None = None

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.release()
        on_disk = False
        for part in (*self.files.values(), *self.wal.values()):
            if part._fh is not None:
                part._fh.close()
            on_disk = on_disk or part.path is not None
        # the spool is made right before the first part given a path: none, no spool, no stat
        if on_disk and self.spool.exists():
            await asyncio.to_thread(shutil.rmtree, self.spool, True)


SPOOL_PREFIX = "upload-"


class _SpoolNames:
    """Unique spool directory names: `upload-<pid>-<random>-<counter>`.

    A uuid4 per request cost an os.urandom call (which releases the GIL) for a directory that
    most uploads never create. Unique within the process by the counter, across processes by
    the prefix (re-drawn in a forked child); `mkdir` refuses an existing name anyway. The pid
    tells `sweep_stale_spools` whose spool it is.
    """

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = f"{SPOOL_PREFIX}{os.getpid()}-{os.urandom(6).hex()}-"
        self.counter = itertools.count(1)  # next() on it is atomic under the GIL

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):08x}"


_SPOOLS = _SpoolNames()
os.register_at_fork(after_in_child=_SPOOLS.reseed)


def _spool_owner(name: str) -> int | None:
    """The pid in `upload-<pid>-...`, or None (an older name: its owner is unknown)."""
    field = name[len(SPOOL_PREFIX) :].split("-", 1)[0]
    return int(field) if field.isascii() and field.isdigit() and len(field) <= 10 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_stale_spools(root: Path) -> int:
    """Remove spools whose gate process is gone (crash, kill -9, container restart); at start.

    A spool of this very pid is stale too: at start this process has none, so one with its pid
    is from an earlier process (pid 1 in every container). A live other process's is kept."""
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    removed = 0
    for entry in entries:
        if not entry.name.startswith(SPOOL_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        pid = _spool_owner(entry.name)
        if pid is not None and pid != os.getpid() and _alive(pid):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed += 1
    return removed


def _spool_error(exc: OSError) -> HTTPError:
    """A spool that cannot be written is the gate's trouble, named, never a bare 500."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return HTTPError(507, "insufficient-storage", "the upload spool is full: try again later")
    return HTTPError(
        503, "spool-unavailable", f"the upload spool cannot be written: {exc.strerror}"
    )


def _bad(detail: str) -> HTTPError:
    return HTTPError(400, "malformed-multipart", detail)


def _disposition(headers: dict[str, bytes]) -> tuple[str, str | None]:
    raw = headers.get("content-disposition")
    if raw is None:
        raise _bad("a part has no Content-Disposition header")
    known = _DISPOSITIONS.get(raw)
    if known is not None:  # clients send the same few dispositions: parse each once
        return known
    kind, params = parse_options_header(raw)
    if kind != b"form-data" or b"name" not in params:
        raise _bad("a part's Content-Disposition must be form-data with a name")
    name = params[b"name"].decode("utf-8", "replace")
    filename = params.get(b"filename")
    found = name, filename.decode("utf-8", "replace") if filename is not None else None
    if len(raw) <= MAX_MEMO_VALUE:
        if len(_DISPOSITIONS) >= MAX_MEMO:
            _DISPOSITIONS.clear()
        _DISPOSITIONS[raw] = found
    return found


def content_type_options(value: str) -> tuple[bytes, dict[bytes, bytes]]:
    """python-multipart's `parse_options_header`, short-cut for `type; key=value`.

    Exact for a value with one `;` and no quote, backslash or `*` (the shape every client
    sends: `multipart/form-data; boundary=...`); anything else goes to the original.
    """
    head, sep, rest = value.partition(";")
    if not sep or ";" in rest or "=" in head or '"' in value or "\\" in value or "*" in rest:
        return parse_options_header(value)
    eq = rest.find("=")
    if eq >= 0:
        rest = rest[:eq].rstrip(" \t").lower() + "=" + rest[eq + 1 :].lstrip(" \t")
    key, _, val = rest.strip(" \t").partition("=")
    ctype = head.strip(" \t").lower().encode("latin-1")
    return ctype, {key.encode("latin-1"): val.encode("latin-1")}


Headers = tuple[tuple[bytes, bytes], ...]
#: header blocks seen before -> their (name, value) pairs
# memo: pure, bounded (MAX_MEMO, cleared when full); measured 2.0 -> 0.05 us a part
_HEADER_BLOCKS: dict[bytes, Headers] = {}


def _header_block(block: bytes) -> Headers | None:
    """The `Name: value` lines of one part's header block, or None unless plainly shaped."""
    known = _HEADER_BLOCKS.get(block)
    if known is not None:  # clients send the same few blocks (names, filenames, types)
        return known
    lines = block.split(b"\r\n")
    if len(lines) > FAST_MAX_HEADERS:
        return None
    headers: list[tuple[bytes, bytes]] = []
    for line in lines:
        colon = line.find(b":")
        if (
            colon <= 0
            or len(line) > FAST_MAX_HEADER_LINE
            or b"\r" in line
            or b"\n" in line
            or line[:colon].translate(None, _HEADER_NAME_CHARS)
        ):
            return None
        headers.append((line[:colon], line[colon + 1 :].lstrip(b" ")))
    found = tuple(headers)
    if len(block) <= MAX_MEMO_VALUE:
        if len(_HEADER_BLOCKS) >= MAX_MEMO:
            _HEADER_BLOCKS.clear()
        _HEADER_BLOCKS[block] = found
    return found


def split_multipart(body: bytes, boundary: bytes) -> list[tuple[Headers, int, int]] | None:
    """Each part's (headers, data start, data end) in `body`, or None unless plainly shaped.

    Plain: the body opens with `--boundary CRLF`; each part has at most FAST_MAX_HEADERS
    `Name: value` lines (name of letters, digits and '-'; no bare CR or LF) and a blank line;
    each delimiter `CRLF --boundary` is followed by CRLF (next part) or `--` (end; the
    epilogue is ignored, as python-multipart does). On such a body python-multipart makes the
    same parts; on anything else (None) the caller lets python-multipart decide.
    """
    dash = b"--" + boundary
    if not body.startswith(dash + b"\r\n"):
        return None
    delimiter = b"\r\n" + dash
    pos = len(dash) + 2
    parts: list[tuple[Headers, int, int]] = []
    while len(parts) < FAST_MAX_PARTS:
        headers: Headers = ()
        if body.startswith(b"\r\n", pos):
            start = pos + 2
        else:
            end = body.find(b"\r\n\r\n", pos)
            block = _header_block(body[pos:end]) if end >= 0 else None
            if block is None:
                return None
            headers, start = block, end + 4
        stop = body.find(delimiter, start)
        if stop < 0:
            return None
        parts.append((headers, start, stop))
        after = stop + len(delimiter)
        if body.startswith(b"--", after):
            return parts
        if not body.startswith(b"\r\n", after):
            return None  # padding or a boundary-like data line: python-multipart's call
        pos = after + 2
    return None


def _wal_name(name: str) -> str:
    if not name or len(name) > MAX_NAME or name in (".", "..") or "/" in name or "\\" in name:
        raise _bad(f"WAL file name {name[:64]!r} is not a plain file name")
    if not name.isprintable():
        raise _bad("WAL file name has non-printable characters")
    if "\ufffd" in name:
        raise _bad("WAL file name is not valid UTF-8")
    return name


class MultipartReader:
    """Feeds request chunks to python-multipart and routes each part to memory or disk."""

    def __init__(
        self,
        *,
        boundary: bytes,
        spool: Path,
        allowed: frozenset[str],
        to_disk: frozenset[str],
        wal_field: str | None,
        max_small_part: int,
        budget: SpoolBudget | None = None,
        skip_empty: bool = False,
    ) -> None:
        self.spool = spool
        #: a browser sends an empty part with `filename=""` for a file input left empty
        self.skip_empty = skip_empty
        self.budget = budget
        self.reserved = 0
        self.allowed = allowed
        self.to_disk = to_disk
        self.wal_field = wal_field
        self.max_small_part = max_small_part
        self.files: dict[str, Part] = {}
        self.wal: dict[str, Part] = {}
        self.ended = False
        self._headers: dict[str, bytes] = {}
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._part: Part | None = None
        self._count = 0
        self._error: HTTPError | None = None
        self.boundary = boundary
        self.spool_used = False
        self._parser: MultipartParser | None = None
        if len(boundary) > LAZY_BOUNDARY:
            self._parser = self._new_parser()

    @property
    def parser(self) -> MultipartParser:
        """python-multipart's streaming parser, built on first use."""
        if self._parser is None:
            self._parser = self._new_parser()
        return self._parser

    def _new_parser(self) -> MultipartParser:
        return MultipartParser(
            self.boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    # -- parser callbacks (synchronous, no I/O) ----------------------------------------------------
    def _on_part_begin(self) -> None:
        self._headers = {}
        self._count += 1
        if self._count > MAX_PARTS:
            raise _bad(f"more than {MAX_PARTS} parts")

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._hname.decode("latin-1").lower()] = bytes(self._hvalue)
        self._hname.clear()
        self._hvalue.clear()

    def _on_headers_finished(self) -> None:
        name, filename = _disposition(self._headers)
        part = Part(name=name, filename=filename)
        if self.skip_empty and filename == "":
            # no file chosen: kept out of the upload; data in it is refused (`_on_part_data`)
            part.data = bytearray()
            self._part = part
            return
        wal_name: str | None = None
        if self.wal_field is not None and name == self.wal_field:
            wal_name = _wal_name(filename or "")
        elif self.wal_field is not None and name.startswith(self.wal_field + "/"):
            wal_name = _wal_name(name[len(self.wal_field) + 1 :])
        elif name not in self.allowed:
            expected = sorted(self.allowed | ({f"{self.wal_field}"} if self.wal_field else set()))
            raise _bad(f"unknown part {name[:64]!r} (expected: {', '.join(expected)})")
        if wal_name is not None:
            if wal_name in self.wal:
                raise _bad(f"WAL file {wal_name!r} sent twice")
            self.wal[wal_name] = part
        else:
            if name in self.files:
                raise _bad(f"part {name!r} sent twice")
            self.files[name] = part
        if wal_name is not None or name in self.to_disk:
            if not self.spool.exists():  # made on first use: most uploads never touch disk
                try:
                    self.spool.mkdir(mode=0o700, parents=True)
                except OSError as exc:
                    raise _spool_error(exc) from None
            self.spool_used = True
            part.path = self.spool / f"part-{self._count:04d}"
        else:
            part.data = bytearray()
        self._part = part

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part is None:
            return
        chunk = data[start:end]
        part.size += len(chunk)
        if part.filename == "" and self.skip_empty and chunk:
            raise _bad(f"part {part.name[:64]!r} holds data but no file name")
        if part.data is not None:
            if part.size > self.max_small_part:
                raise HTTPError(
                    413,
                    "payload-too-large",
                    f"part {part.name!r} is over the {self.max_small_part}-byte limit",
                )
            part.data += chunk
        else:
            part._pending.append(chunk)
            part._pending_size += len(chunk)

    def _on_part_end(self) -> None:
        if self._part is not None:
            self._part.done = True
        self._part = None

    def _on_end(self) -> None:
        self.ended = True

    # -- disk I/O (worker thread) ------------------------------------------------------------------
    def _disk_parts(self) -> list[Part]:
        return [p for p in (*self.files.values(), *self.wal.values()) if p.path is not None]

    @staticmethod
    def _flush(part: Part) -> None:
        if part._fh is None and part.path is not None:
            fd = os.open(part.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            part._fh = os.fdopen(fd, "wb")
        data = b"".join(part._pending)
        part._pending.clear()
        part._pending_size = 0
        if part._fh is not None:
            part._fh.write(data)
            if part.done:
                part._fh.close()
                part._fh = None
                part.closed = True

    async def flush(self) -> None:
        if not self.spool_used:  # no part goes to disk (a migration): nothing to flush
            return
        due = [
            p
            for p in self._disk_parts()
            if not p.closed and (p._pending_size >= FLUSH_BYTES or p.done)
        ]
        if due:
            if self.budget is not None:
                size = sum(p._pending_size for p in due)
                self.budget.reserve(size)
                self.reserved += size
            try:
                await asyncio.to_thread(self._flush_all, due)
            except OSError as exc:
                raise _spool_error(exc) from None

    def release(self) -> None:
        """Give the spooled bytes back to the budget (once: the spool is being removed)."""
        if self.budget is not None:
            self.budget.release(self.reserved)
        self.reserved = 0

    def _flush_all(self, parts: list[Part]) -> None:
        for part in parts:
            self._flush(part)

    def write(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except FormParserError as exc:
            raise _bad(f"multipart body is malformed: {exc}") from None

    def write_whole(self, body: bytes) -> bool:
        """Take a complete body in one pass if `split_multipart` accepts it (see module doc).

        False, with nothing consumed, when it does not: the caller then `write`s the chunks.
        Callback errors (limits, names, duplicates) surface in part order, as when streaming.
        """
        if self._parser is not None or self._count or self.ended:
            return False
        parts = split_multipart(body, self.boundary)
        if parts is None:
            return False
        for headers, start, end in parts:
            self._on_part_begin()
            for name, value in headers:
                self._headers[name.decode("latin-1").lower()] = value
            self._on_headers_finished()
            if end > start:
                self._on_part_data(body, start, end)
            self._on_part_end()
        self._on_end()
        return True


async def receive_multipart(
    scope: Scope,
    receive: Receive,
    *,
    tmp_root: Path,
    allowed: frozenset[str],
    to_disk: frozenset[str],
    wal_field: str | None,
    max_total: int,
    max_small_part: int,
    budget: SpoolBudget | None = None,
    skip_empty: bool = False,
) -> Upload:
    """Parse the body as it streams; 415 wrong type, 400 malformed/truncated, 413 too big,
    507 when the spool (or its `budget`) is full."""
    content_type, content_length = scope_headers(scope, b"content-type", b"content-length")
    ctype, params = content_type_options(content_type or "")
    if ctype != b"multipart/form-data":
        got = ctype.decode("latin-1") or "none"
        raise HTTPError(
            415, "unsupported-media-type", f"Content-Type must be multipart/form-data (found {got})"
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise _bad("multipart/form-data without a boundary parameter")
    check_length(content_length, max_total)
    spool = tmp_root / _SPOOLS.next()
    try:
        reader = MultipartReader(
            boundary=boundary,
            spool=spool,
            allowed=allowed,
            to_disk=to_disk,
            wal_field=wal_field,
            max_small_part=max_small_part,
            budget=budget,
            skip_empty=skip_empty,
        )
    except (FormParserError, ValueError) as exc:
        raise _bad(f"bad boundary: {exc}") from None
    upload = Upload(files=reader.files, wal=reader.wal, spool=spool, reader=reader)
    try:
        await _feed(reader, body_chunks(receive), max_total)
        _refuse_lone_surrogates(reader.files.values())
    except BaseException:  # ClientDisconnect, limits, malformed: never leave a spool behind
        await upload.close()
        raise
    return upload


def require_parts(upload: Upload, names: Iterable[str], what: str) -> None:
    """400 naming every required part the upload lacks: a usage error, never a BLOCK (a
    client's incomplete request is not an incident and opens no alert)."""
    missing = [n for n in names if n not in upload.files]
    if missing:
        need = " and ".join(names)
        raise HTTPError(
            400,
            "missing-part",
            f"missing part {', '.join(repr(n) for n in missing)} ({what} needs {need})",
        )


def _refuse_lone_surrogates(parts: Iterable[Part]) -> None:
    """400 for a text part holding a lone surrogate: it cannot be audited, so never decided."""
    for part in parts:
        at = lone_surrogate_at(bytes(part.data)) if part.data is not None else None
        if at is not None:
            raise HTTPError(
                400,
                "invalid-text",
                f"part {part.name!r} holds a lone surrogate (byte {at}): "
                "text must be valid Unicode",
            )


async def _feed(reader: MultipartReader, chunks: AsyncIterator[bytes], max_total: int) -> None:
    """Hold the first WHOLE_BODY_BYTES; a body that ends there is split in one pass. Else (and
    when the split declines) every chunk takes the streaming steps, in order, as it always did:
    size check, python-multipart, flush - so errors come out as if nothing had been held."""
    feed = _Feed(reader, max_total)
    try:
        async for chunk in chunks:
            await feed.take(chunk)
    except Exception:  # e.g. ClientDisconnect: the chunks that did arrive were parsed first
        await feed.release()
        raise
    await feed.finish()
    if not reader.ended:
        raise _bad("multipart body is truncated (no closing boundary)")
    await reader.flush()


class _Feed:
    """`_feed`'s state: the held prefix (None once streaming) and the running size."""

    def __init__(self, reader: MultipartReader, max_total: int) -> None:
        self.reader = reader
        self.max_total = max_total
        self.total = 0
        self.held: list[bytes] | None = []
        self.held_size = 0

    async def step(self, chunk: bytes) -> None:
        """One streaming step: size check, parse, flush."""
        self.total += len(chunk)
        if self.total > self.max_total:
            raise HTTPError(
                413, "payload-too-large", f"body is over the {self.max_total}-byte limit"
            )
        self.reader.write(chunk)
        await self.reader.flush()

    async def take(self, chunk: bytes) -> None:
        if self.held is None:
            await self.step(chunk)
            return
        self.held.append(chunk)
        self.held_size += len(chunk)
        if self.held_size > WHOLE_BODY_BYTES:
            await self.release()

    async def release(self) -> None:
        """Stream what is held (nothing once streaming), then stream from here on."""
        pending, self.held = self.held or [], None
        for piece in pending:
            await self.step(piece)

    async def finish(self) -> None:
        """A body that ended while held: split in one pass, or streamed if the split declines."""
        if self.held is None:
            return
        body = self.held[0] if len(self.held) == 1 else b"".join(self.held)
        if self.held_size <= self.max_total and self.reader.write_whole(body):
            self.held = None
            await self.reader.flush()
        else:
            await self.release()
