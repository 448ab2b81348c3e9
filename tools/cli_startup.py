"""B11: CLI start-up, this tree against another checkout, interleaved (before/after side by side).

    python tools/cli_startup.py --base DIR [--rounds 10]

DIR is another checkout of the repository (e.g. `git worktree add /tmp/mg-base v0.1.0`). Each
round runs every command once in each tree, alternating, so a noisy machine hurts both alike;
the medians and their ratio (this tree / base) are printed. No thresholds: a report, not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CODE = "import sys; from webhook.cli import main; sys.exit(main(sys.argv[1:]))"
GOOD = ["examples/t1_good", "--trust-dir", "examples/t1_good/trust"]
COMMANDS = {
    "--version": ["--version"],
    "validate t1_good": ["validate", "migration", *GOOD],
}


def run_once(root: Path, argv: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(root))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CODE, *argv], cwd=root, env=env,  # noqa: S603
                          capture_output=True, check=False)  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(
            f"{root}: {' '.join(argv)} exited {done.returncode}: {done.stderr[-400:]!r}"
        )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    args = parser.parse_args()
    trees = {"base": args.base.resolve(), "this": Path(__file__).resolve().parents[1]}
    times: dict[tuple[str, str], list[float]] = {(t, c): [] for t in trees for c in COMMANDS}
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            for tree, root in trees.items():
                times[(tree, name)].append(run_once(root, argv))
    print(f"{args.rounds} interleaved rounds; median (min) seconds")
    print(f"{'command':<18} {'base':>16} {'this tree':>16} {'ratio':>6}")
    for name in COMMANDS:
        base, this = times[("base", name)], times[("this", name)]
        ratio = statistics.median(this) / statistics.median(base)
        print(f"{name:<18} {statistics.median(base):>8.3f} ({min(base):.3f}) "
              f"{statistics.median(this):>8.3f} ({min(this):.3f}) {ratio:>6.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
