"""MultipartReader: routing parts to memory or the spool, limits and malformed bodies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from webhook.server.http import HTTPError
from webhook.server.uploads import FLUSH_BYTES, MultipartReader

B = "bnd"


def body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{B}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + f"--{B}--\r\n".encode()


def reader(spool: Path, max_small: int = 1024) -> MultipartReader:
    return MultipartReader(
        boundary=B.encode(),
        spool=spool,
        allowed=frozenset({"replication_manifest.yaml", "snapshot.tar.gz"}),
        to_disk=frozenset({"snapshot.tar.gz"}),
        wal_field="wal_files",
        max_small_part=max_small,
    )


def feed(r: MultipartReader, data: bytes, chunk: int = 7000) -> None:
    async def go() -> None:
        for i in range(0, len(data), chunk):
            r.write(data[i : i + chunk])
            await r.flush()

    asyncio.run(go())


def test_snapshot_goes_to_disk_wal_by_filename_or_path(tmp_path: Path) -> None:
    snapshot = bytes(range(256)) * (3 * FLUSH_BYTES // 256 + 7)
    r = reader(tmp_path)
    feed(
        r,
        body(
            ("replication_manifest.yaml", "m.yaml", b"a: 1\n"),
            ("snapshot.tar.gz", "s.tgz", snapshot),
            ("wal_files", "000000010000000000000001", b"w1"),
            ("wal_files/000000010000000000000002", None, b"w2"),
        ),
        chunk=65536,
    )
    assert r.ended
    snap = r.files["snapshot.tar.gz"]
    assert snap.data is None and snap.path is not None and snap.closed
    assert snap.path.read_bytes() == snapshot and snap.size == len(snapshot)
    assert r.files["replication_manifest.yaml"].value() == b"a: 1\n"
    assert {k: Path(v.value()).read_bytes() for k, v in r.wal.items()} == {  # type: ignore[arg-type]
        "000000010000000000000001": b"w1",
        "000000010000000000000002": b"w2",
    }


@pytest.mark.parametrize(
    ("parts", "status", "needle"),
    [
        ([("nope", "x", b"1")], 400, "unknown part"),
        ([("wal_files", "../etc/passwd", b"1")], 400, "plain file name"),
        ([("wal_files", "a", b"1"), ("wal_files", "a", b"2")], 400, "sent twice"),
        ([("replication_manifest.yaml", "m", b"x" * 2000)], 413, "limit"),
    ],
)
def test_rejections(
    tmp_path: Path, parts: list[tuple[str, str | None, bytes]], status: int, needle: str
) -> None:
    r = reader(tmp_path)
    with pytest.raises(HTTPError) as err:
        feed(r, body(*parts))
    assert err.value.status == status and needle in err.value.detail


def test_truncated_body_never_ends(tmp_path: Path) -> None:
    r = reader(tmp_path)
    data = body(("replication_manifest.yaml", "m", b"a: 1\n"))
    feed(r, data[:-10])
    assert not r.ended
