"""The bounded fuzz run of `make test`: each target a fixed number of executions, fixed seed.

Each target runs in its own process (libFuzzer owns the process and exits when done), from the
committed seeds, writing new inputs and any crash to a scratch directory. A crash or oracle
violation fails the test and prints the input; reproduce with
`python -m tests.fuzz.run TARGET CRASH_FILE`. Longer runs: `make fuzz`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
SEED = int(os.environ.get("MG_FUZZ_SEED", "1"))
#: executions per target: a few 10^4 in all, well under a minute on 2 cores
RUNS = {"loaders": 30_000, "multipart": 30_000, "dsse": 30_000, "tar": 10_000}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_target_bounded(target: str, tmp_path: Path) -> None:
    new = tmp_path / "new"
    new.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "tests.fuzz.run",
        target,
        f"-runs={RUNS[target]}",
        f"-seed={SEED}",
        "-max_len=65536",
        "-timeout=20",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={tmp_path}/",
        str(new),
        str(CORPUS / target),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env, check=False
    )
    tail = "\n".join(proc.stderr.splitlines()[-60:])
    assert proc.returncode == 0, f"fuzz target {target} failed (seed {SEED}):\n{tail}"
    done = re.search(r"Done (\d+) runs in (\d+) second", proc.stderr)
    assert done is not None, tail
    assert int(done.group(1)) >= RUNS[target]
    print(f"fuzz {target}: {done.group(1)} executions in {done.group(2)} s, seed {SEED}")
