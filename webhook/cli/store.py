"""Which audit store a CLI command uses: the one given, else the server's default location.

One rule for every command and for `serve`: `--audit-db`, else `MIGRATION_GATE_AUDIT_DB`, else
`<state dir>/audit.db` as `ServerSettings` computes it (`MIGRATION_GATE_STATE_DIR`, default
`.state`). The raw string goes to `webhook.audit.open_store`, which reads paths and URLs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from webhook.cli.options import AUDIT_DB_ENV, STATE_DIR_ENV
from webhook.errors import UsageError

if TYPE_CHECKING:
    from webhook.audit import AuditStore


NO_STORE = f"no audit store here (pass --audit-db PATH|URL or set {AUDIT_DB_ENV})"


@dataclass(frozen=True)
class StoreChoice:
    location: str
    explicit: bool  # given by flag or env (created if missing), not the default location


def default_location(environ: Mapping[str, str] | None = None) -> str:
    """The server's default store, computed by the server's own settings."""
    from webhook.server.settings import ServerSettings  # noqa: PLC0415  (startup time)

    env = os.environ if environ is None else environ
    state = env.get(STATE_DIR_ENV)
    settings = ServerSettings(state_dir=Path(state)) if state else ServerSettings()
    return str(settings.audit_db_path)


def choose(flag: str | None, environ: Mapping[str, str] | None = None) -> StoreChoice:
    env = os.environ if environ is None else environ
    if flag:
        return StoreChoice(flag, explicit=True)
    if env.get(AUDIT_DB_ENV):
        return StoreChoice(env[AUDIT_DB_ENV], explicit=True)
    return StoreChoice(default_location(env), explicit=False)


def exists(location: str) -> bool:
    """A SQLite store exists when its file does; a PostgreSQL one is the server's to judge."""
    if "://" not in location:
        return Path(location).is_file()
    from webhook.audit.target import SqliteTarget, parse_target  # noqa: PLC0415

    target = parse_target(location, read_password=False)
    return not isinstance(target, SqliteTarget) or target.path.is_file()


def open_location(location: str) -> AuditStore:
    """Open (creating a missing SQLite file) through the audit package's one entry point."""
    from webhook.audit import open_store  # noqa: PLC0415  (startup time)

    return open_store(location)  # the raw string: a URL must reach it unfolded by Path()


def open_existing(location: str) -> AuditStore:
    """For readers: a store that is not there is an error naming where we looked."""
    if not exists(location):
        raise UsageError(NO_STORE, file=location)
    return open_location(location)


def not_recorded(what: str, why: str) -> None:
    """Said on stderr every time decisions are not recorded, so none is silently lost."""
    print(f"migration-gate: note: {what} not recorded: {why}", file=sys.stderr)
