"""Large, realistic tar.gz snapshots made in seconds, cached under ~/.cache/migration-gate/bench.

Compressing gigabytes on a 2-core machine would dominate the run, so the generator compresses one
1 MiB block of page-like data once, ends it with a full flush (which resets the deflate state, so
the same input always yields the same bytes) and writes those bytes again for every repetition.
Only the CRC-32 and the per-member SHA-256 for SHA256SUMS are computed over the full length.
The result is a valid single-member gzip of a PAX tar, compressing about 3:1 like a database
(no archive-bomb ratio), whose inflate speed is that of the real data, not of a run of zeros.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bench.procs import BENCH_CACHE

MIB = 1024 * 1024
GIB = 1024 * MIB
BLOCK = MIB
PAGE = 8192
VERSION = 2
MTIME = 1_790_000_000


def page_block(seed: int = 7) -> bytes:
    """1 MiB of 8 KiB 'heap pages': header, incompressible tuples, repetitive text, free space."""
    rnd = random.Random(seed)
    pages = []
    for i in range(BLOCK // PAGE):
        header = struct.pack("<QIHHHH", i, rnd.getrandbits(32), 24, 4096, PAGE, 4)
        tuples = rnd.randbytes(2400)
        text = b"".join(
            b"payments|%08d|EUR|%06d|settled|" % (rnd.randrange(10**8), rnd.randrange(10**6))
            for _ in range(60)
        )
        body = header + tuples + text
        pages.append(body + bytes(PAGE - len(body)))
    return b"".join(pages)


@dataclass(frozen=True)
class Snapshot:
    path: Path
    uncompressed: int
    compressed: int
    members: int


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, MTIME, 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def make_snapshot(total: int, *, member_size: int = 256 * MIB, level: int = 6) -> Snapshot:
    """A cached tar.gz holding `total` bytes of data in members of `member_size`, + SHA256SUMS."""
    if total % BLOCK or member_size % BLOCK:
        raise ValueError("sizes must be whole MiB")
    path = BENCH_CACHE / f"snapshot-v{VERSION}-{total // MIB}MiB-m{member_size // MIB}.tar.gz"
    if path.exists():
        return Snapshot(path, total, path.stat().st_size, -(-total // member_size) + 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    block = page_block()
    comp = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    crc, isize = 0, 0
    tmp = path.with_suffix(".part")
    members = 0

    def emit(out: BinaryIO, data: bytes) -> None:
        nonlocal crc, isize
        crc = zlib.crc32(data, crc)
        isize += len(data)
        out.write(comp.compress(data) + comp.flush(zlib.Z_FULL_FLUSH))

    with tmp.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip header, mtime 0, OS unknown
        first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
        again = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
        if first != again:  # the trick's premise; fail loudly rather than write a corrupt file
            raise RuntimeError("deflate output of a repeated block after a full flush differs")
        sums: list[str] = []
        remaining = total
        while remaining:
            size = min(member_size, remaining)
            name = f"base/16384/{16400 + members}"
            emit(out, _tar_header(name, size))
            digest = hashlib.sha256()
            for _ in range(size // BLOCK):
                crc = zlib.crc32(block, crc)
                digest.update(block)
                out.write(first)
            isize += size
            sums.append(f"{digest.hexdigest()}  {name}\n")
            remaining -= size
            members += 1
        text = "".join(sorted(sums, key=lambda s: s.split()[1])).encode()
        pad = (-len(text)) % 512
        emit(out, _tar_header("SHA256SUMS", len(text)) + text + bytes(pad) + bytes(1024))
        out.write(comp.flush(zlib.Z_FINISH))
        out.write(struct.pack("<II", crc & 0xFFFFFFFF, isize & 0xFFFFFFFF))
    os.replace(tmp, path)
    return Snapshot(path, total, path.stat().st_size, members + 1)


def make_blob(size: int) -> Path:
    """A cached file of `size` bytes (random-looking) for raw hashing throughput."""
    path = BENCH_CACHE / f"blob-{size // MIB}MiB.bin"
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    block = random.Random(11).randbytes(BLOCK)
    tmp = path.with_suffix(".part")
    with tmp.open("wb") as out:
        for _ in range(size // BLOCK):
            out.write(block)
    os.replace(tmp, path)
    return path
