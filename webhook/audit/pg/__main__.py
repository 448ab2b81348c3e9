"""`python -m webhook.audit.pg install --admin-url URL --writer-role ROLE`: schema as owner.

For deployments where the gate runs as a role that may only INSERT and SELECT (docker-compose's
one-shot `audit-schema` service, a Kubernetes Job): create or migrate the schema as the tables'
owner and grant the writer role. The owner's password comes from the same places as the gate's
(MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE, MIGRATION_GATE_AUDIT_DB_PASSWORD). Exit 0 done, 2 error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from webhook.audit.pg.store import install
from webhook.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webhook.audit.pg")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("install", help="create or migrate the audit schema, grant the writer")
    cmd.add_argument("--admin-url", required=True, help="postgresql://OWNER@HOST:PORT/DB")
    cmd.add_argument("--writer-role", default=None, help="role the gate connects as")
    args = parser.parse_args(argv)
    try:
        created = install(args.admin_url, writer_role=args.writer_role)
    except ConfigError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return 2
    print("audit schema " + ("created or migrated" if created else "already current"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
