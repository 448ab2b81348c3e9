"""`migration-gate serve`: the server's own flags (`webhook.server.flags`) in the CLI's tree.

`--policy`, `--trust-dir` and `--audit-db` default to None here: `ServerSettings` resolves them
(flag, then `MIGRATION_GATE_<NAME>`, then the default), as it does every other flag.
"""

from __future__ import annotations

import argparse

from webhook.cli.options import Commands, add_audit_db, add_policy, add_trust_dir
from webhook.server.flags import register as register_flags


def register(commands: Commands, common: argparse.ArgumentParser | None = None) -> None:
    parser = register_flags(commands, common)
    add_policy(parser, from_env=False)
    add_trust_dir(parser, from_env=False)
    add_audit_db(parser, "audit store every decision is recorded in")
