"""B11: CLI start-up, this checkout against today's release, side by side.

`migration-gate validate migration examples/t1_good` (and `--version`) as a user runs them:
the venv's `migration-gate` entry script in a fresh process, wall clock, with `webhook` imported
from this checkout or from the release's tree (`MG_BENCH_RELEASE_TREE`, default `git archive`
of `RELEASE`'s webhook/ under the bench cache), alternating per round. The audit store is left out
(`--no-audit` now; the release records only when given `--audit-db`), so the figure is
start-up plus one decision.

Both sides run from compiled bytecode, as an installed package does (pip compiles on install):
`PYTHONPYCACHEPREFIX` points both at one bytecode cache under the bench cache, filled by the
unrecorded warm-up, whatever `PYTHONDONTWRITEBYTECODE` or stray `__pycache__` folders say, so
neither side compiles its sources in a timed run and neither reads bytecode the other lacks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.config import Config
from bench.interleave import interleave
from bench.model import Result, Summary
from bench.procs import BENCH_CACHE, LOAD_CPU, ROOT, pinned

#: the last commit before the lazy-import CLI (today's release for B11)
RELEASE = "7c63843"
GOOD = ["examples/t1_good", "--trust-dir", "examples/t1_good/trust"]
#: the one bytecode cache both sides read (paths mirror each tree's, so they never collide)
PYCACHE = BENCH_CACHE / "b11-pycache"


def release_tree() -> Path:
    given = os.environ.get("MG_BENCH_RELEASE_TREE")
    if given:
        return Path(given)
    tree = BENCH_CACHE / f"release-{RELEASE}"
    if not (tree / "webhook").is_dir():  # an export of the commit's files: no git metadata
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", RELEASE, "webhook"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def _once(tree: Path, argv: list[str]) -> float:
    exe = Path(sys.executable).with_name("migration-gate")
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t = time.perf_counter()
    proc = subprocess.run(pinned([str(exe), *argv], LOAD_CPU), cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    ms = (time.perf_counter() - t) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} in {tree}: exit {proc.returncode}: "
                           f"{proc.stderr[-800:]}")
    return ms


def b11(cfg: Config) -> list[Result]:
    release = release_tree()
    rounds = 3 if cfg.quick else 11
    validate = ["validate", "migration", *GOOD]
    # the release records only with --audit-db; this checkout also when a default store exists
    s = interleave(rounds, sides={
        "now": lambda: _once(ROOT, [*validate, "--no-audit"]),
        "release": lambda: _once(release, validate),
        "now-version": lambda: _once(ROOT, ["--version"]),
        "release-version": lambda: _once(release, ["--version"])})
    res = Result("B11", "CLI start-up: `migration-gate validate migration examples/t1_good` "
                 "(fresh process, wall clock, no audit store)", "ms", "ratio_max", 0.5,
                 f"today's release ({RELEASE}), the same command", gate=s["now"],
                 baseline=s["release"])
    now_v, rel_v = Summary.of(s["now-version"]), Summary.of(s["release-version"])
    if now_v and rel_v:
        res.note = (f"`migration-gate --version`: {now_v.fmt('ms')} now vs {rel_v.fmt('ms')} "
                    f"for the release ({now_v.median / rel_v.median:.2f}x); {rounds} "
                    "interleaved rounds, each command in a fresh process.")
    return [res]
