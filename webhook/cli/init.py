"""`migration-gate init migration|replication DIR`: write a complete starting folder.

The folder validates as printed (ALLOW with `--env staging`; for prod it must be signed, and
`--key` signs it right away). What to do next is printed with the exact commands.
"""

from __future__ import annotations

import argparse
import shlex
from datetime import timedelta
from pathlib import Path

from webhook.cli.options import EXIT_OK, SubCommands
from webhook.contracts.env import ENVS


def register(commands: SubCommands) -> None:
    init = commands.add_parser("init", help="write a complete, valid starting artifact folder")
    scenarios = init.add_commands(dest="scenario", metavar="SCENARIO", title="scenarios")
    for name, what in (
        ("migration", "migration_manifest.json + app-config.yaml, the config pinned"),
        ("replication", "replication_manifest.yaml + snapshot.tar.gz + wal_files/"),
    ):
        p = scenarios.add_parser(name, help=what)
        p.add_argument("dir", metavar="DIR", help="folder to create (or fill)")
        p.add_argument(
            "--env",
            choices=ENVS,
            default="staging",
            help="the env written into the artifacts (default: staging)",
        )
        if name == "migration":
            p.add_argument(
                "--app-id", default="my-app", help="app_id of the service (default: my-app)"
            )
        p.add_argument(
            "--key",
            action="append",
            default=None,
            metavar="FILE",
            help="also sign the folder with this private key (repeat for several signers)",
        )
        p.add_argument("--force", action="store_true", help="overwrite files already there")
        p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from webhook.cli.signing import (  # noqa: PLC0415
        attest_replication,
        load_signing_key,
        sign_manifest,
    )
    from webhook.scaffold.init import init_migration, init_replication  # noqa: PLC0415

    folder = Path(args.dir)
    keys = [load_signing_key(k) for k in args.key or ()]
    if args.scenario == "migration":
        written = init_migration(folder, app_id=args.app_id, env=args.env, force=args.force)
        if keys:
            written.append(sign_manifest(folder, keys))
    else:
        written = init_replication(folder, env=args.env, force=args.force)
        if keys:
            written.append(attest_replication(folder, keys, valid_for=timedelta(days=30)))
    for path in written:
        print(f"wrote {path}")
    print(_next_steps(args, signed=bool(keys)))
    return EXIT_OK


def _next_steps(args: argparse.Namespace, *, signed: bool) -> str:
    d = shlex.quote(args.dir)
    s = args.scenario
    lines = ["", "next:"]
    if args.env == "staging" and not signed:
        lines.append(f"  migration-gate validate {s} {d} --env staging")
    if s == "migration":
        lines.append(f"  edit {d}/app-config.yaml, then: migration-gate pin {d}")
    else:
        lines.append(f"  replace {d}/snapshot.tar.gz and {d}/wal_files/ with yours, and list "
                     f"their sha256 in {d}/replication_manifest.yaml")  # fmt: skip
    if signed:
        lines.append(f"  migration-gate validate {s} {d} --env {args.env} --trust-dir DIR  "
                     "# DIR holds the signers' .pub keys")  # fmt: skip
    else:
        lines += [
            "  to sign it (prod requires a signature; for prod, init with --env prod):",
            "    migration-gate keygen --out signer",
            f"    migration-gate sign {s} {d} --key signer.key",
            "    mkdir -p trust && cp signer.pub trust/",
            f"    migration-gate validate {s} {d} --env {args.env} --trust-dir trust",
        ]
    return "\n".join(lines)
