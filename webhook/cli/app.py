"""The parser tree and `main`: parse, run the command's handler, render a `GateError` as exit 2.

Each command group lives in its own module and imports the engine only inside its handler, so
`--version`, `--help` and completion never load it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from webhook import __version__
from webhook.cli import audit, completion, init, policy, serve, signing, validate
from webhook.cli.options import EXIT_USAGE, Handler, Parser
from webhook.errors import GateError

PROG = "migration-gate"


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Fail-closed security gate for migrations (T1) and replications (T2). "
        "Exit codes: 0 ALLOW, 1 BLOCK (or a failed verification), 2 usage error.",
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"{PROG} {__version__}", help="show version"
    )
    commands = parser.add_commands(dest="command", metavar="COMMAND")
    validate.register(commands)
    init.register(commands)
    signing.register(commands)
    policy.register(commands)
    audit.register(commands)
    serve.register(commands)
    completion.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
