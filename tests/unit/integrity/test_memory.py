"""Peak RSS stays flat while hashing / inspecting large inputs (measured, never timed).

Each measurement runs in a fresh interpreter so other tests cannot have raised ru_maxrss already;
the child imports everything and warms up first, then reports maxrss growth in KiB.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LIMIT_KIB = 32 * 1024

CHILD = r"""
import json, resource, sys
from pathlib import Path
from webhook.integrity import hash_file, inspect_targz
from webhook.integrity.archive import ArchiveReport

def maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

mode, path = sys.argv[1], Path(sys.argv[2])
small = Path(sys.argv[3])
# warm up: the same code paths on a small input, so lazy allocations are not counted as growth
if mode == "hash":
    hash_file(small)
else:
    inspect_targz(small)
before = maxrss()
if mode == "hash":
    result = {"digest": hash_file(path)}
else:
    r = inspect_targz(path)
    result = {"ok": r.ok, "members": r.members, "expanded": r.expanded_bytes,
              "sums": r.sums_checked, "findings": [f.message for f in r.findings],
              "digest": r.file_digests["sha256"]}
result["growth_kib"] = maxrss() - before
print(json.dumps(result))
"""


def run_child(mode: str, path: Path, small: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), str(small)],
        check=True, capture_output=True, text=True, env=env, timeout=600,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.slow
def test_hashing_a_1gib_sparse_file_keeps_rss_flat(tmp_path: Path) -> None:
    big = tmp_path / "sparse.bin"
    with big.open("wb") as fh:
        fh.truncate(1024**3)
    small = tmp_path / "small.bin"
    small.write_bytes(b"warm up")
    result = run_child("hash", big, small)
    expected = hashlib.sha256()
    zeros = bytes(1024 * 1024)
    for _ in range(1024):
        expected.update(zeros)
    assert result["digest"] == expected.hexdigest()
    growth = result["growth_kib"]
    assert isinstance(growth, int) and growth < LIMIT_KIB, f"RSS grew by {growth} KiB"


def write_big_targz(path: Path, members: int, member_mib: int) -> int:
    """Stream a tar.gz of `members` members of `member_mib` MiB each (hex text, ~2:1), plus
    SHA256SUMS, without ever holding a member in memory. Returns the expanded tar size."""
    block = os.urandom(512 * 1024).hex().encode()  # 1 MiB of hex text
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    size = 0
    lines = []
    with path.open("wb") as fh:

        def put(data: bytes) -> None:
            nonlocal size
            size += len(data)
            fh.write(comp.compress(data))

        for i in range(members):
            info = tarfile.TarInfo(f"base/{i:04d}.dat")
            info.size = member_mib * 1024 * 1024
            put(info.tobuf(tarfile.PAX_FORMAT))
            h = hashlib.sha256()
            for j in range(member_mib):
                chunk = bytes([i, j]) + block[2:]
                h.update(chunk)
                put(chunk)
            lines.append(f"{h.hexdigest()}  base/{i:04d}.dat\n")
        body = "".join(lines).encode()
        info = tarfile.TarInfo("SHA256SUMS")
        info.size = len(body)
        put(info.tobuf(tarfile.PAX_FORMAT) + body + bytes(-len(body) % 512) + bytes(1024))
        fh.write(comp.flush())
    return size


@pytest.mark.slow
def test_inspecting_a_256mib_archive_keeps_rss_flat(tmp_path: Path) -> None:
    big = tmp_path / "big.tar.gz"
    expanded = write_big_targz(big, members=16, member_mib=16)
    small = tmp_path / "small.tar.gz"
    write_big_targz(small, members=2, member_mib=2)
    result = run_child("inspect", big, small)
    assert result["findings"] == [] and result["ok"] is True
    assert result["members"] == 17 and result["sums"] == 16
    assert result["expanded"] == expanded
    growth = result["growth_kib"]
    assert isinstance(growth, int) and growth < LIMIT_KIB, f"RSS grew by {growth} KiB"
