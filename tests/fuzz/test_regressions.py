"""Every input the fuzzers found, replayed through its target with the full oracle.

`regressions/<target>/<name>`: a file per finding. A known, reported bug is an xfail(strict)
here, so the test flips to a failure once the bug is fixed, and gets unmarked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

HERE = Path(__file__).resolve().parent / "regressions"
#: known, reported bugs (xfail strict). The two tar findings (pax header then end-of-archive,
#: garbage in an unused numeric field) are fixed in webhook/integrity/archive/tar.py.
KNOWN: dict[str, str] = {}


def _cases() -> list[object]:
    out: list[object] = []
    for path in sorted(HERE.glob("*/*")):
        key = f"{path.parent.name}/{path.name}"
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[key])] if key in KNOWN else []
        out.append(pytest.param(path, id=key, marks=marks))
    return out


@pytest.mark.parametrize("path", _cases())
def test_fuzz_finding_replays_clean(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "MG_FUZZ_STRICT", "1")
    TARGETS[path.parent.name](path.read_bytes())


def test_seed_corpus_runs_clean() -> None:
    """Every committed seed passes its oracle (the fuzzers start from a sound corpus)."""
    corpus = Path(__file__).resolve().parent / "corpus"
    seeds = sorted(corpus.glob("*/*"))
    assert len(seeds) > 20
    for seed in seeds:
        TARGETS[seed.parent.name](seed.read_bytes())
