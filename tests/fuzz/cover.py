"""Line coverage of each fuzz target's modules over a corpus (atheris reports none itself).

`python -m tests.fuzz.cover [EXTRA_DIR ...]`: runs every target over its committed seeds plus
`EXTRA_DIR/<target>/*` (what `make fuzz` grew), under coverage.py, and prints one line per
target: inputs run and the line coverage of the modules it exercises.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import coverage

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def main(extra: list[str]) -> int:
    from tests.fuzz.targets import MODULES

    include = [str(ROOT / m) for mods in MODULES.values() for m in mods]
    cov = coverage.Coverage(data_file=None, include=include, branch=False)
    cov.start()
    from tests.fuzz.targets import TARGETS

    counts: dict[str, int] = {}
    for name, target in TARGETS.items():
        dirs = [HERE / "corpus" / name, *(Path(e) / name for e in extra)]
        files = [f for d in dirs if d.is_dir() for f in sorted(d.iterdir()) if f.is_file()]
        for f in files:
            # an oracle finding is the fuzzer's to report; here we only measure
            with contextlib.suppress(AssertionError):
                target(f.read_bytes())
        counts[name] = len(files)
    cov.stop()
    for name, mods in MODULES.items():
        pct = cov.report(include=[str(ROOT / m) for m in mods], file=io.StringIO())
        print(f"coverage {name}: {counts[name]} inputs, {pct:.1f}% of lines in {', '.join(mods)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
