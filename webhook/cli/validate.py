"""`migration-gate validate migration|replication DIR...`: the engine's CLI door.

Exit code: the worst over the folders given: 0 every one ALLOWed, 1 one BLOCKed, 2 one could not
be validated at all (not a folder, a folder of the other scenario, a required file missing: a
usage error naming it, never a BLOCK, and never recorded as a decision).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from webhook.cli.options import (
    EXIT_BLOCK,
    EXIT_OK,
    EXIT_USAGE,
    SubCommands,
    add_audit_db,
    add_output,
    add_policy,
    add_trust_dir,
    seconds,
)
from webhook.cli.store import choose, exists, not_recorded, open_location
from webhook.contracts.env import ENVS
from webhook.errors import GateError, UsageError

if TYPE_CHECKING:
    from webhook.contracts.decision import Decision
    from webhook.pipelines import Engine

OUTPUTS = ("text", "json", "sarif", "junit")

#: the files each scenario cannot be decided without (signatures are the policies' to judge)
REQUIRED = {
    "migration": ("migration_manifest.json", "app-config.yaml"),
    "replication": ("replication_manifest.yaml", "snapshot.tar.gz"),
}
OTHER = {"migration": "replication", "replication": "migration"}


def register(commands: SubCommands) -> None:
    validate = commands.add_parser(
        "validate", help="validate artifact folders (exit 0 ALLOW, 1 BLOCK, 2 usage error)"
    )
    scenarios = validate.add_commands(dest="scenario", metavar="SCENARIO", title="scenarios")
    for name, what in (
        ("migration", "T1: migration_manifest.json + app-config.yaml (+ its signature)"),
        ("replication", "T2: replication_manifest.yaml + snapshot + WAL (+ its attestation)"),
    ):
        p = scenarios.add_parser(name, help=what)
        p.add_argument(
            "dirs",
            nargs="+",
            metavar="DIR",
            help="artifact folder(s); the exit code is the worst of their decisions",
        )
        add_policy(p)
        add_trust_dir(p)
        p.add_argument(
            "--env",
            choices=ENVS,
            default="prod",
            help="the environment the change is for; selects the policies (default: prod). "
            "The artifact's own env is never trusted for this: one that differs BLOCKs "
            "(env-mismatch). No environment variable sets it, on purpose.",
        )
        p.add_argument(
            "--deadline",
            type=seconds,
            default=None,
            metavar="SECONDS",
            help="time budget for each decision: past it the decision BLOCKs "
            "(deadline-exceeded), checked inside every step (default: none, since hashing a "
            "large snapshot may take minutes)",
        )
        add_audit_db(p, "audit store to record each decision in; recorded only if given or "
                     "if the default store exists, and said on stderr when not")  # fmt: skip
        p.add_argument(
            "--no-audit",
            action="store_true",
            help="do not record the decisions (stderr still says so, every time)",
        )
        add_output(p, OUTPUTS)
        p.set_defaults(func=run)


def check_folder(value: str, scenario: str) -> Path:
    """A folder of this scenario with its required files, else a UsageError naming what is not."""
    folder = Path(value)
    if not folder.is_dir():
        raise UsageError("not a directory (expected an artifact folder)", file=value)
    wanted = REQUIRED[scenario]
    missing = [n for n in wanted if not (folder / n).is_file()]
    if len(missing) == len(wanted) and (folder / REQUIRED[OTHER[scenario]][0]).is_file():
        raise UsageError(
            f"a {OTHER[scenario]} folder (it holds {REQUIRED[OTHER[scenario]][0]}): "
            f"use `migration-gate validate {OTHER[scenario]}`",
            file=value,
        )
    if missing:
        raise UsageError(
            f"not a complete {scenario} folder: missing {', '.join(missing)}", file=value
        )
    return folder


def decide(engine: Engine, args: argparse.Namespace, folder: Path) -> Decision:
    from webhook.artifacts import migration_inputs, replication_inputs  # noqa: PLC0415

    deadline = None if args.deadline is None else time.monotonic() + args.deadline
    if args.scenario == "migration":
        return engine.validate_migration(migration_inputs(folder), env=args.env, deadline=deadline)
    return engine.validate_replication(replication_inputs(folder), env=args.env, deadline=deadline)


class Recorder:
    """Records each decision where the CLI's store rule says, or counts it as not recorded."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.skip = args.no_audit
        self.store = None
        self.unrecorded = 0
        #: where the store is (or would be); `--no-audit` never looks, so it never loads the
        #: server's settings (the default location) just to say nothing of it
        self.location = ""
        if not self.skip:
            choice = choose(args.audit_db)
            self.location = choice.location
            if choice.explicit or exists(choice.location):
                self.store = open_location(choice.location)

    def record(self, decision: Decision) -> Decision:
        """With a store, the decision only stands once it is recorded (a failed write BLOCKs)."""
        if self.store is None:
            self.unrecorded += 1
            return decision
        from webhook.audit import record_decision  # noqa: PLC0415

        return record_decision(self.store, decision, source="cli", dry_run=False, emit=_drop)

    def say(self) -> None:
        """After the report: one plain line whenever decisions went unrecorded."""
        if not self.unrecorded:
            return
        what = "decision" if self.unrecorded == 1 else f"{self.unrecorded} decisions"
        if self.skip:
            not_recorded(what, "--no-audit")
        else:
            not_recorded(
                what,
                f"no audit store at {self.location} (the server's default; pass "
                "--audit-db PATH|URL to record, or --no-audit)",
            )

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def _drop(_line: str) -> None:
    """The CLI prints the report itself; the audit JSON line goes to the store only."""


def run(args: argparse.Namespace) -> int:
    if args.no_audit and args.audit_db:
        raise UsageError("--no-audit and --audit-db contradict each other: give one")
    folders: list[Path] = []
    worst = EXIT_OK
    for value in args.dirs:
        try:
            folders.append(check_folder(value, args.scenario))
        except UsageError as exc:
            print(f"migration-gate: error: {exc.diagnostics()}", file=sys.stderr)
            worst = EXIT_USAGE
    recorder = Recorder(args) if folders else None
    try:
        results = decide_all(folders, args, recorder) if recorder is not None else []
    finally:
        if recorder is not None:
            recorder.close()
    if results or args.output in ("sarif", "junit"):  # a CI report is written even if empty
        from webhook.cli.reports import render  # noqa: PLC0415

        print(render(results, args.output, scenario=args.scenario), flush=True)
    if recorder is not None:
        recorder.say()
    worst = max([worst, *(EXIT_OK if d.allowed else EXIT_BLOCK for _, d in results)])
    return worst if len(results) == len(folders) else EXIT_USAGE


def decide_all(
    folders: list[Path], args: argparse.Namespace, recorder: Recorder
) -> list[tuple[Path, Decision]]:
    """Decide (and record) each folder; one that cannot be read is reported and left out."""
    from webhook.pipelines import Engine  # noqa: PLC0415

    policy = Path(args.policy) if args.policy else None
    trust = Path(args.trust_dir) if args.trust_dir else None
    engine = Engine.load(policy_path=policy, trust_dir=trust)
    results: list[tuple[Path, Decision]] = []
    for folder in folders:
        try:
            results.append((folder, recorder.record(decide(engine, args, folder))))
        except GateError as exc:
            print(f"migration-gate: error: {exc.diagnostics()}", file=sys.stderr)
    return results
