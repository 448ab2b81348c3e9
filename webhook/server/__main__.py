"""`python -m webhook.server [serve flags]`: the server without the rest of the CLI.

Same flags and env vars as `migration-gate serve` (container entrypoints and tests use it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from webhook.server.flags import register


def main(argv: Sequence[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--policy", default=None, help="policy bundle YAML")
    common.add_argument("--trust-dir", default=None, help="directory of trusted public keys")
    common.add_argument("--audit-db", default=None, help="SQLite audit store")
    parser = argparse.ArgumentParser(prog="python -m webhook.server")
    sub = parser.add_subparsers(dest="command")
    register(sub, common)
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
