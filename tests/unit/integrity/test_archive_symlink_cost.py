"""Resolving archive symlinks costs one step per path component, within one budget per archive.

A symlink with a deep target, then many members written through it: the old resolver joined the
whole path at every component (quadratic in the depth, per member), so one 4 KiB target under
100k members was minutes of CPU with the GIL held. Complexity is checked with a time RATIO
(depth doubled), never a wall-clock threshold.
"""

from __future__ import annotations

import io
import tarfile
import time

import pytest

from tests.unit.integrity.tarkit import gz
from webhook.integrity import inspect_targz
from webhook.integrity.archive import recipe
from webhook.integrity.archive.members import MAX_RESOLVE_STEPS


def through_symlink(members: int, depth: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        link = tarfile.TarInfo("a")
        link.type = tarfile.SYMTYPE
        link.linkname = "/".join(["x"] * depth)
        tf.addfile(link)
        for i in range(members):
            tf.addfile(tarfile.TarInfo(f"a/d{i}/f"))
    return gz(buf.getvalue(), level=1)


def cpu(data: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        report = inspect_targz(io.BytesIO(data))
        best = min(best, time.process_time() - t)
        assert report.ok, report.findings
    return best


def test_resolution_is_linear_in_the_target_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recipe, "usable_cpus", lambda: 1)  # no hash-thread noise in the timing
    small, big = through_symlink(200, 600), through_symlink(200, 1200)
    ratio = cpu(big) / cpu(small)
    assert ratio < 3.0, f"doubling the depth multiplied the time by {ratio:.1f} (quadratic: 4)"


def test_a_hostile_archive_stops_at_the_budget_with_a_finding() -> None:
    depth = 2000
    members = MAX_RESOLVE_STEPS // depth + 500
    report = inspect_targz(io.BytesIO(through_symlink(members, depth)))
    assert [(f.check, f.message) for f in report.findings] == [
        (
            "archive-bomb",
            f"resolving the archive's symlinks takes more than {MAX_RESOLVE_STEPS} steps",
        )
    ]
    assert report.members < members  # parsing stopped there, not after every member
