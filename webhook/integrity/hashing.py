"""Streaming digests, constant-time comparison, and the digest syntax re-exported.

Only SHA-2 is computed here (`STRONG`); md5/sha1/bare hex are *recognised* by `parse_digest`
(`webhook/contracts/digests.py`) so a policy can say "outdated hashing" instead of "garbage",
but nothing in the gate ever trusts them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from webhook.contracts.digests import (
    HEX_LENGTHS,
    STRONG,
    Digest,
    digest_forms,
    parse_digest,
)
from webhook.errors import DeadlineExceeded, InputError

if TYPE_CHECKING:  # a hint only: hashing a Path (the CLI) never loads the pinned opener
    from webhook.integrity.pinned import PinnedSource

__all__ = [
    "CHUNK",
    "HEX_LENGTHS",
    "STRONG",
    "Digest",
    "MultiHasher",
    "digest_forms",
    "digests_equal",
    "hash_bytes",
    "hash_file",
    "parse_digest",
]

#: 1 MiB: large enough that the per-call overhead vanishes next to SHA-NI, small enough for RSS
CHUNK: Final = 1024 * 1024


def _check_algorithm(algorithm: str) -> str:
    if algorithm not in STRONG:
        raise ValueError(f"unsupported hash algorithm {algorithm!r} (use one of {STRONG})")
    return algorithm


def hash_bytes(data: bytes | bytearray | memoryview, algorithm: str = "sha256") -> str:
    """Lowercase hex digest of `data`."""
    return hashlib.new(_check_algorithm(algorithm), data).hexdigest()


def hash_file(
    path: Path | PinnedSource,
    algorithm: str = "sha256",
    *,
    file: str | None = None,
    deadline: float | None = None,
) -> str:
    """Lowercase hex digest of a file, read in 1 MiB chunks into one reused buffer.

    This is `hashlib.file_digest`'s loop with a 1 MiB buffer (its own is 256 KiB) plus a deadline
    check per chunk, so a 4 GiB snapshot costs one buffer of memory and can be abandoned in time.
    `file` is the name reported in errors (default: the path's name). A `PinnedSource` (a file
    opened beneath a root without following symlinks) is read through its descriptor.
    """
    digest = hashlib.new(_check_algorithm(algorithm))
    name = file if file is not None else path.name
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        with path.open("rb", buffering=0) if isinstance(path, Path) else path.reader() as fh:
            while True:
                size = fh.readinto(buf)
                if not size:
                    break
                digest.update(view[:size])
                if deadline is not None and time.monotonic() > deadline:
                    raise DeadlineExceeded("deadline passed while hashing", file=name)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", file=name) from None
    return digest.hexdigest()


class MultiHasher:
    """Feed a stream once, get several digests (e.g. sha256 and sha512 of an upload)."""

    def __init__(self, algorithms: Iterable[str] = ("sha256",)) -> None:
        algs = tuple(dict.fromkeys(_check_algorithm(a) for a in algorithms))
        if not algs:
            raise ValueError("MultiHasher needs at least one algorithm")
        self._hashers = [(a, hashlib.new(a)) for a in algs]
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        for _, h in self._hashers:
            h.update(data)
        self.size += len(data)

    def hexdigests(self) -> dict[str, str]:
        """Digest per algorithm so far; the hasher stays usable."""
        return {a: h.hexdigest() for a, h in self._hashers}


def digests_equal(a_hex: str, b_hex: str) -> bool:
    """Constant-time comparison of two hex digest strings."""
    return hmac.compare_digest(a_hex.encode(), b_hex.encode())
