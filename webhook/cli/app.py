"""The parser tree and `main`: parse, run the command's handler, render a `GateError` as exit 2.

Each command group lives in its own module and imports the engine only inside its handler, so
`--version`, `--help` and completion never load it. `main` builds only the group of the command
it runs (`validate ...` imports and builds `validate` alone); every other argv gets the whole tree.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from webhook import __version__
from webhook.cli.options import EXIT_USAGE, Handler, Parser, SubCommands
from webhook.errors import GateError

PROG = "migration-gate"

#: each command module and the top-level commands it adds, in `--help` order
ADDS = {
    "validate": ("validate",),
    "init": ("init",),
    "signing": ("keygen", "sign", "verify", "pin"),
    "policy": ("policy",),
    "audit": ("audit",),
    "serve": ("serve",),
    "completion": ("completion",),
}
GROUPS = tuple(ADDS)
#: the module that adds each top-level command
COMMANDS = {command: group for group, commands in ADDS.items() for command in commands}
VERSION_FLAGS = ("-V", "--version")


class _Group(Protocol):
    """A command module: it adds its commands, with their options and handlers."""

    def register(self, commands: SubCommands) -> None: ...


def build_parser(groups: Sequence[str] = GROUPS) -> Parser:
    """The tree with the given command modules (default: all of them, as completion needs)."""
    parser = Parser(
        prog=PROG,
        description="Fail-closed security gate for migrations (T1) and replications (T2). "
        "Exit codes: 0 ALLOW, 1 BLOCK (or a failed verification), 2 usage error.",
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"{PROG} {__version__}", help="show version"
    )
    commands = parser.add_commands(dest="command", metavar="COMMAND")
    for name in groups:
        cast(_Group, importlib.import_module(f"webhook.cli.{name}")).register(commands)
    return parser


def groups_for(argv: Sequence[str]) -> Sequence[str]:
    """The modules parsing `argv` needs: the first word's, when it names a command.

    The top-level options take no value, so a first word that names a command is the command
    argparse runs, and its sub-parser reports its own errors and help; the top-level usage
    names no command (`COMMAND ...`). `-V ...` prints the version before any command is looked
    at. Anything else (`--help`, a typo, no command) may list the commands: the whole tree.
    """
    if not argv:
        return GROUPS
    if argv[0] in VERSION_FLAGS:
        return ()
    group = COMMANDS.get(argv[0])
    return GROUPS if group is None else (group,)


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(groups_for(words))
    args = parser.parse_args(words)
    func: Handler = args.func
    try:
        return func(args)
    except GateError as exc:
        print(f"{PROG}: error: {exc.diagnostics()}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: stop quietly, as the Python docs advise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE
