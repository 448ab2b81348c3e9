"""Streaming multipart/form-data intake: small parts in memory, large ones spooled to disk.

A snapshot can be many GiB, so its part is written to a private temp directory (under the state
dir, removed after the decision) as it arrives; memory stays bounded by the chunk size. File
writes happen in a worker thread, in 1 MiB batches, so the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from webhook.server.http import HTTPError, declared_length

FLUSH_BYTES = 1024 * 1024
MAX_PARTS = 1100  # a few files plus up to ~1000 WAL segments
MAX_NAME = 255


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


@dataclass
class Upload:
    """Every part by its field name; WAL files by their WAL name. `close()` removes the spool."""

    files: dict[str, Part]
    wal: dict[str, Part]
    spool: Path

    async def close(self) -> None:
        for part in (*self.files.values(), *self.wal.values()):
            if part._fh is not None:
                part._fh.close()
        if self.spool.exists():
            await asyncio.to_thread(shutil.rmtree, self.spool, True)


def _bad(detail: str) -> HTTPError:
    return HTTPError(400, "malformed-multipart", detail)


def _disposition(headers: dict[str, bytes]) -> tuple[str, str | None]:
    raw = headers.get("content-disposition")
    if raw is None:
        raise _bad("a part has no Content-Disposition header")
    kind, params = parse_options_header(raw)
    if kind != b"form-data" or b"name" not in params:
        raise _bad("a part's Content-Disposition must be form-data with a name")
    name = params[b"name"].decode("utf-8", "replace")
    filename = params.get(b"filename")
    return name, filename.decode("utf-8", "replace") if filename is not None else None


def _wal_name(name: str) -> str:
    if not name or len(name) > MAX_NAME or name in (".", "..") or "/" in name or "\\" in name:
        raise _bad(f"WAL file name {name[:64]!r} is not a plain file name")
    if not name.isprintable():
        raise _bad("WAL file name has non-printable characters")
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
    ) -> None:
        self.spool = spool
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
        self.parser = MultipartParser(
            boundary,
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
                self.spool.mkdir(mode=0o700, parents=True)
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
        due = [
            p
            for p in self._disk_parts()
            if not p.closed and (p._pending_size >= FLUSH_BYTES or p.done)
        ]
        if due:
            await asyncio.to_thread(self._flush_all, due)

    def _flush_all(self, parts: list[Part]) -> None:
        for part in parts:
            self._flush(part)

    def write(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except FormParserError as exc:
            raise _bad(f"multipart body is malformed: {exc}") from None


async def receive_multipart(
    request: Request,
    *,
    tmp_root: Path,
    allowed: frozenset[str],
    to_disk: frozenset[str],
    wal_field: str | None,
    max_total: int,
    max_small_part: int,
) -> Upload:
    """Parse the body as it streams; 415 wrong type, 400 malformed/truncated, 413 too big."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        got = ctype.decode("latin-1") or "none"
        raise HTTPError(
            415, "unsupported-media-type", f"Content-Type must be multipart/form-data (found {got})"
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise _bad("multipart/form-data without a boundary parameter")
    declared_length(request, max_total)
    spool = tmp_root / f"upload-{uuid.uuid4().hex}"
    try:
        reader = MultipartReader(
            boundary=boundary,
            spool=spool,
            allowed=allowed,
            to_disk=to_disk,
            wal_field=wal_field,
            max_small_part=max_small_part,
        )
    except (FormParserError, ValueError) as exc:
        raise _bad(f"bad boundary: {exc}") from None
    upload = Upload(files=reader.files, wal=reader.wal, spool=spool)
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_total:
                raise HTTPError(
                    413, "payload-too-large", f"body is over the {max_total}-byte limit"
                )
            reader.write(chunk)
            await reader.flush()
        if not reader.ended:
            raise _bad("multipart body is truncated (no closing boundary)")
        await reader.flush()
    except BaseException:  # ClientDisconnect, limits, malformed: never leave a spool behind
        await upload.close()
        raise
    return upload
