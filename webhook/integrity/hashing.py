"""Streaming digests and strict parsing of digest strings found in manifests.

Only SHA-2 is computed here (`STRONG`); md5/sha1/bare hex are *recognised* by `parse_digest` so a
policy can say "outdated hashing" instead of "garbage", but nothing in the gate ever trusts them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from webhook.errors import DeadlineExceeded, InputError, IntegrityError
from webhook.integrity.pinned import PinnedSource

STRONG: Final = ("sha256", "sha384", "sha512")
WEAK: Final = ("md5", "sha1")
#: hex length of each recognised algorithm; bare hex is classified by this length
HEX_LENGTHS: Final[dict[str, int]] = {
    "md5": 32,
    "sha1": 40,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
}
_BY_LENGTH: Final = {n: alg for alg, n in HEX_LENGTHS.items()}
#: 1 MiB: large enough that the per-call overhead vanishes next to SHA-NI, small enough for RSS
CHUNK: Final = 1024 * 1024
_MAX_DIGEST_TEXT: Final = 160
_HEX = re.compile(r"[0-9a-fA-F]+")


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


@dataclass(frozen=True)
class Digest:
    """A digest as written in a manifest: `sha256:<hex>` or (weak, legacy) bare hex.

    For bare hex, `algorithm` is inferred from the length and `prefixed` is False.
    """

    algorithm: str
    hex: str
    prefixed: bool

    @property
    def is_weak(self) -> bool:
        """True for md5/sha1 and for any unprefixed digest (the algorithm is only a guess)."""
        return not self.prefixed or self.algorithm not in STRONG

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}" if self.prefixed else self.hex


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def parse_digest(value: str, *, file: str, field: str) -> Digest:
    """Parse `alg:hex` or bare hex strictly; raise InputError naming file and field otherwise.

    Rules: the prefix must be one of sha256/sha384/sha512/sha1/md5 (lowercase); the hex must be
    lowercase (an uppercase digest is almost always a copy-paste from another tool, and accepting
    two spellings of one value makes string comparison elsewhere unsafe); the length must match the
    algorithm. Bare hex of a recognised length is returned with `prefixed=False` (weak).
    """
    if not isinstance(value, str):
        raise InputError(
            f"expected a digest string, got {type(value).__name__}", file=file, field=field
        )
    if not value:
        raise InputError("digest is empty", file=file, field=field)
    if len(value) > _MAX_DIGEST_TEXT:
        raise InputError(
            f"digest is {len(value)} characters long, not a digest", file=file, field=field
        )
    if value != value.strip():
        raise InputError("digest has leading or trailing whitespace", file=file, field=field)
    algorithm, sep, hexpart = value.partition(":")
    prefixed = bool(sep)
    if not prefixed:
        hexpart, algorithm = value, ""
    elif algorithm.lower() != algorithm:
        raise InputError(
            f"algorithm prefix {algorithm!r} must be lowercase", file=file, field=field
        )
    elif algorithm not in HEX_LENGTHS:
        raise InputError(
            f"unsupported digest algorithm {algorithm!r} (expected one of {', '.join(STRONG)})",
            file=file,
            field=field,
        )
    if not _HEX.fullmatch(hexpart):
        raise InputError(f"{_shown(hexpart)} is not hexadecimal", file=file, field=field)
    if hexpart != hexpart.lower():
        raise InputError("hex digits must be lowercase", file=file, field=field)
    if prefixed:
        want = HEX_LENGTHS[algorithm]
        if len(hexpart) != want:
            raise InputError(
                f"{algorithm} digest must be {want} hex characters, found {len(hexpart)}",
                file=file,
                field=field,
            )
    else:
        guessed = _BY_LENGTH.get(len(hexpart))
        if guessed is None:
            raise InputError(
                f"bare hex of length {len(hexpart)} matches no known algorithm; "
                "write it as sha256:<64 hex>",
                file=file,
                field=field,
            )
        algorithm = guessed
    return Digest(algorithm=algorithm, hex=hexpart, prefixed=prefixed)


def digests_equal(a_hex: str, b_hex: str) -> bool:
    """Constant-time comparison of two hex digest strings."""
    return hmac.compare_digest(a_hex.encode(), b_hex.encode())


def check_digest(expected: Digest, actual_hex: str, *, file: str, field: str) -> None:
    """Raise IntegrityError unless `actual_hex` (computed with `expected.algorithm`) matches.

    Refuses weak digests: a match against md5/sha1/unprefixed hex proves nothing.
    """
    if expected.is_weak:
        raise IntegrityError(
            f"{expected.algorithm if expected.prefixed else 'unprefixed'} digest cannot prove "
            "integrity; use sha256:<hex>",
            file=file,
            field=field,
        )
    if not digests_equal(expected.hex, actual_hex):
        raise IntegrityError(
            f"{expected.algorithm} is {actual_hex}, expected {expected.hex}",
            file=file,
            field=field,
        )
