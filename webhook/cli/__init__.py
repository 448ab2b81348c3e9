"""The `migration-gate` command: the engine on the command line, plus key and audit tooling.

One module per command group (`validate`, `init`, `signing`, `policy`, `audit`, `serve`,
`completion`); `app` builds the tree and holds `main`, the one place that renders a `GateError`.
Exit codes: 0 ALLOW, 1 BLOCK (or a failed verification), 2 usage error or unreadable input.
"""

from webhook.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
