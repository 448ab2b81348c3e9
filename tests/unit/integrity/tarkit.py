"""Build real tar / tar.gz bytes for the archive tests, including ones `tarfile` would refuse."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class M:
    """One member to write: a regular file unless `kind` says otherwise."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""


def tar_bytes(members: Iterable[M], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = m.kind
            info.mtime = 1_700_000_000
            info.mode = 0o644
            if m.kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = m.link
            if m.kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(m.data)
                tf.addfile(info, io.BytesIO(m.data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def gz(data: bytes, level: int = 6) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def write(tmp: Path, data: bytes, name: str = "snapshot.tar.gz") -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def sums(entries: dict[str, bytes], *, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in entries.items()]
    lines += [f"{h}  {n}\n" for n, h in (extra or {}).items()]
    return "".join(lines).encode()


def header_checksum(block: bytearray) -> None:
    """Recompute a 512-byte header's checksum after a manual edit."""
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)


def set_field(tar: bytes, offset: int, start: int, value: bytes) -> bytes:
    """Overwrite a header field at `offset` (header start) and fix the checksum."""
    out = bytearray(tar)
    block = bytearray(out[offset : offset + 512])
    block[start : start + len(value)] = value
    header_checksum(block)
    out[offset : offset + 512] = block
    return bytes(out)
