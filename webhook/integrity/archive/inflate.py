"""Multi-member gzip -> bytes, output bounded per call, with the bomb guards.

ISA-L (`isal`, about 2x zlib with the same format checks incl. CRC32/ISIZE) when installed, else
the stdlib zlib. Input is fed in 256 KiB slices and at most 1 MiB is produced per call, so memory
stays bounded even for a 1000:1 bomb; the size and ratio guards run on every output.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Final, Protocol, cast

from webhook.integrity.archive.model import ArchiveLimits, Fatal, KiB, MiB

#: compressed bytes handed to zlib per call; small enough that `unconsumed_tail` copies stay cheap
INFLATE_IN: Final = 256 * KiB
#: inflated bytes produced per zlib call: bounds memory even for a 1000:1 bomb
INFLATE_OUT: Final = 1 * MiB
_GZIP_MAGIC: Final = b"\x1f\x8b"


class Decompressor(Protocol):
    """The part of `zlib.decompressobj()` we use; `isal.isal_zlib` offers the same."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: memoryview | bytes, max_length: int = 0, /) -> bytes: ...


def _zlib_gzip() -> Decompressor:
    return zlib.decompressobj(31)


_new_gzip: Callable[[], Decompressor] = _zlib_gzip
_gzip_errors: tuple[type[Exception], ...] = (zlib.error,)
#: which inflater the gate uses: ISA-L (about 2x zlib, same format checks incl. CRC32/ISIZE)
#: when the optional `isal` package is installed, else the stdlib zlib
GZIP_BACKEND = "zlib"
try:
    from isal import isal_zlib as _isal_zlib

    def _isal_gzip() -> Decompressor:
        return _isal_zlib.decompressobj(wbits=31)

    _new_gzip = _isal_gzip
    _gzip_errors = (zlib.error, cast("type[Exception]", _isal_zlib.error))  # stub: instance
    GZIP_BACKEND = "isal"
except ImportError:  # pragma: no cover - depends on the environment
    pass


def gzip_decompressor() -> Decompressor:
    """A fresh gzip (wbits=31) decompressor of `GZIP_BACKEND`, e.g. for a benchmark baseline."""
    return _new_gzip()


class Inflater:
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
        for start in range(0, len(mv), INFLATE_IN):
            self._feed(mv[start : start + INFLATE_IN])

    def _feed(self, data: memoryview | bytes) -> None:
        while data:
            if self._d.eof:
                if self._gz_members >= self.limits.max_members:
                    raise Fatal(
                        "archive-bomb", "", f"more than {self.limits.max_members} gzip members"
                    )
                self._d = _new_gzip()
                self._gz_members += 1
                self._member_in = 0
            if self._member_in == 0 and not _GZIP_MAGIC.startswith(bytes(data[:2])):
                if self._gz_members == 1:
                    raise Fatal("archive-invalid", "", "not a gzip file (no gzip magic bytes)")
                raise Fatal(
                    "archive-invalid",
                    "",
                    f"trailing bytes after the gzip stream at byte {self.compressed}",
                )
            try:
                out = self._d.decompress(data, INFLATE_OUT)
            except _gzip_errors as exc:
                raise Fatal("archive-invalid", "", f"corrupt gzip data ({exc})") from None
            rest = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            used = len(data) - len(rest)
            if not out and not used and not self._d.eof:
                raise Fatal("archive-invalid", "", "gzip stream makes no progress")
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
            raise Fatal("archive-bomb", "", f"expands to more than {lim.max_expanded_bytes} bytes")
        if self.expanded > MiB and self.expanded > lim.max_ratio * max(self.compressed, 1):
            raise Fatal(
                "archive-bomb",
                "",
                f"expansion ratio over {lim.max_ratio}:1 "
                f"({self.expanded} bytes from {self.compressed})",
            )

    def finish(self) -> None:
        if not self._d.eof:
            if self.compressed == 0:
                raise Fatal("archive-invalid", "", "empty file, not a gzip archive")
            raise Fatal("archive-invalid", "", "truncated gzip stream")
