"""The server's flags (`FLAGS`), shared by `migration-gate serve` and `python -m webhook.server`.

Every flag defaults to None so `ServerSettings.from_args` can tell "not given" from a value and
fall back to `MIGRATION_GATE_<NAME>`, then to the built-in default. Only argparse and the
settings' vocabulary here: `webhook.cli.serve` adds this to the CLI's tree.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Protocol

from webhook.errors import ConfigError

FLAGS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("--state-dir", {"metavar": "STATE_DIR"},
     "where dev defaults live: tls/, operator-tokens.sha256, audit.db (default .state)"),
    ("--host", {}, "listen address (default 127.0.0.1; 0.0.0.0 in a container)"),
    ("--admission-port", {"type": int}, "admission webhook port, TLS always (default 8443)"),
    ("--api-port", {"type": int}, "operator API + UI port (default 8080)"),
    ("--metrics-port", {"type": int}, "/metrics /livez /readyz port, plain HTTP (default 9090)"),
    ("--cert", {"metavar": "FILE"},
     "server certificate PEM (default: generated dev cert in STATE_DIR/tls)"),
    ("--key", {"metavar": "FILE"}, "server private key PEM (with --cert)"),
    ("--client-ca", {"metavar": "FILE"},
     "CA bundle: require client certificates on the admission listener"),
    ("--dns-name", {"dest": "dns_names", "action": "append"},
     "extra SAN for the dev cert (repeatable), e.g. migration-gate.gate-system.svc"),
    ("--api-tls", {"choices": ["true", "false"]}, "operator API over TLS (default false)"),
    ("--allow-empty-trust", {"choices": ["true", "false"]},
     "UNSAFE for prod: ready with no trusted key; every prod decision still BLOCKs "
     "(default false: /readyz 503 trust store empty)"),
    ("--token-file", {"metavar": "FILE"},
     "lines role:sha256hex:name[:envs] (default STATE_DIR/operator-tokens.sha256)"),
    ("--admission-deadline", {"type": float}, "internal admission deadline, seconds (default 8)"),
    ("--max-body", {}, "admission body limit, e.g. 4MiB (default 4MiB)"),
    ("--max-upload", {}, "API upload limit, e.g. 8GiB (default 8GiB)"),
    ("--max-small-part", {}, "limit for manifest/config/signature parts (default 4MiB)"),
    ("--snapshot-root", {"metavar": "DIR"},
     "directory under which admission may hash file:// snapshot URIs"),
    ("--snapshot-max-bytes", {}, "largest snapshot admission hashes (default 256MiB)"),
    ("--decision-cache-ttl", {"type": float}, "cache identical inputs N s (0: off)"),
    ("--reload-interval", {"type": float},
     "seconds between checks of --policy/--trust-dir for a change, reloaded live "
     "(ConfigMap symlink swaps too); 0: only on SIGHUP (default 5)"),
    ("--engine-threads", {"type": int}, "worker threads for the engine and audit (default 32)"),
    ("--api-threads", {"type": int}, "worker threads of the API's own pool (default 8)"),
    ("--api-deadline", {"type": float}, "time budget of an API decision, seconds (default 120)"),
    ("--spool-dir", {"metavar": "DIR"}, "upload spool, on its own volume (default STATE_DIR/tmp)"),
    ("--spool-max-bytes", {},
     "bytes all uploads in flight may spool, e.g. 9GiB; beyond it 507 (default 16GiB)"),
    ("--max-concurrency", {"type": int}, "per listener; beyond it: HTTP 503 (default 1024)"),
    ("--header-timeout", {"type": float}, "seconds to send a request head (default 10)"),
    ("--body-timeout", {"type": float},
     "window, seconds, in which a body must bring --body-min-rate bytes/s (default 30)"),
    ("--body-min-rate", {}, "slowest accepted body, bytes/s, e.g. 1KiB (default 1KiB)"),
    ("--max-header-bytes", {}, "largest request head, e.g. 64KiB; beyond it: 431 (default 64KiB)"),
    ("--max-connections-per-client", {"type": int},
     "open connections per client address per listener, 0: no limit (default 256)"),
    ("--shutdown-timeout", {"type": float}, "seconds to finish in-flight requests (default 20)"),
    ("--keep-alive", {"type": float},
     "idle keep-alive seconds; above the apiserver's 90 s (default 120)"),
    ("--log-level", {"choices": ["debug", "info", "warning", "error"]}, "log level (default info)"),
)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Resolve the settings and serve until stopped (exit 2 on a bad setting)."""
    # imported here so `migration-gate validate ...` never loads uvicorn
    from webhook.server.run import serve  # noqa: PLC0415
    from webhook.server.settings import ServerSettings  # noqa: PLC0415

    try:
        settings = ServerSettings.from_args(args)
    except ConfigError as exc:
        print(f"migration-gate serve: {exc.diagnostics()}", file=sys.stderr)
        return 2
    return serve(settings)


class Commands(Protocol):
    """What `register` needs of `add_subparsers()`'s result."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def register(
    subparsers: Commands, common_parent: argparse.ArgumentParser | None = None
) -> argparse.ArgumentParser:
    """Add `serve` with every flag of `FLAGS` (and `common_parent`'s options); returns it."""
    parser = subparsers.add_parser(
        "serve",
        parents=[common_parent] if common_parent is not None else [],
        help="run the admission webhook, operator API and metrics listeners",
        description="Run the admission webhook, operator API and metrics listeners. "
        "Each flag also reads MIGRATION_GATE_<FLAG> (e.g. MIGRATION_GATE_API_PORT).",
        allow_abbrev=False,
    )
    for flag, extra, help_text in FLAGS:
        parser.add_argument(flag, default=None, help=help_text, **extra)
    parser.set_defaults(func=run)
    return parser
