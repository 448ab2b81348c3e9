"""The key that signs UI session cookies: from a mounted Secret, or made once in the state dir.

Every replica must sign with the same key for sessions to work across replicas and restarts, so
the key is a file, never generated per process: `MIGRATION_GATE_SESSION_KEY_FILE` (a Secret in
Kubernetes) or `<state-dir>/ui-session.key`, created with O_EXCL and mode 0600 on first use.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from webhook.errors import ConfigError

KEY_FILE_ENV = "MIGRATION_GATE_SESSION_KEY_FILE"
STATE_KEY_NAME = "ui-session.key"
MIN_KEY_BYTES = 32
MAX_KEY_BYTES = 4096


def _read(path: Path, source: str) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the UI session key: {exc.strerror or exc}", file=str(path), field=source
        ) from None
    key = data.strip()
    if len(data) > MAX_KEY_BYTES:
        raise ConfigError(
            f"UI session key is over {MAX_KEY_BYTES} bytes", file=str(path), field=source
        )
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"UI session key is {len(key)} bytes; it must be at least {MIN_KEY_BYTES} "
            "(e.g. `head -c 48 /dev/urandom | base64`)",
            file=str(path),
            field=source,
        )
    return key


def _create(path: Path) -> None:
    """Write a fresh key with O_EXCL: two processes starting together keep the first one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    try:
        os.write(fd, (secrets.token_urlsafe(48) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def load_session_key(state_dir: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The signing key; ConfigError naming the file when it is unreadable or too short."""
    env = os.environ if environ is None else environ
    named = env.get(KEY_FILE_ENV, "")
    if named:
        return _read(Path(named), KEY_FILE_ENV)
    path = state_dir / STATE_KEY_NAME
    if not path.exists():
        _create(path)
    return _read(path, "state-dir")
