"""`ServerSettings`: every knob of `migration-gate serve`, resolved flag -> env var -> default.

Built explicitly from parsed flags and an environment mapping, so tests can create as
many differently-configured servers as they like and nothing is read at import time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.errors import ConfigError

ENV_PREFIX = "MIGRATION_GATE_"
MIB = 1024 * 1024
GIB = 1024 * MIB
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Settings of one gate process (three listeners). Paths left `None` get dev defaults."""

    state_dir: Path = Path(".state")
    host: str = "127.0.0.1"
    admission_port: int = 8443
    api_port: int = 8080
    metrics_port: int = 9090
    cert: Path | None = None
    key: Path | None = None
    client_ca: Path | None = None
    dns_names: tuple[str, ...] = ()
    api_tls: bool = False
    #: ready with no trusted key (prod still BLOCKs every decision: trust-store-empty); only for
    #: a gate that serves staging alone, or while keys are being rolled out
    allow_empty_trust: bool = False
    trust_dir: Path | None = None
    policy: Path | None = None
    #: the audit store: a path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB (raw string,
    #: parsed by `webhook.audit.open_store`; never a password: see audit_db_password_file)
    audit_db: str | None = None
    #: file holding the PostgreSQL password (a mounted Secret); read at open, never logged
    audit_db_password_file: Path | None = None
    token_file: Path | None = None
    admission_deadline: float = 8.0
    max_body: int = 4 * MIB
    max_upload: int = 8 * GIB
    max_small_part: int = 4 * MIB
    snapshot_root: Path | None = None
    snapshot_max_bytes: int = 256 * MIB
    decision_cache_ttl: float = 60.0
    #: s between checks of the policy file and trust dir for a change (a ConfigMap/Secret
    #: update is a symlink swap); 0: reload on SIGHUP only
    reload_interval: float = 5.0
    engine_threads: int = 32
    #: the API's own worker pool (uploads), apart from admission's `engine_threads`
    api_threads: int = 8
    #: time budget of an API decision, s (a replication hashes a snapshot of up to max_upload)
    api_deadline: float = 120.0
    #: upload spool, apart from the audit store's volume (default STATE_DIR/tmp)
    spool_dir: Path | None = None
    #: bytes all uploads in flight may spool together; beyond it 507 (keep it under the spool
    #: volume's size: an emptyDir past its sizeLimit evicts the pod)
    spool_max_bytes: int = 16 * GIB
    max_concurrency: int = 1024
    #: a request head must be complete this many s after the connection or its first byte
    header_timeout: float = 10.0
    #: a body must bring `body_min_rate` bytes/s over every window of this many s
    body_timeout: float = 30.0
    body_min_rate: int = 1024
    max_header_bytes: int = 64 * 1024
    #: open connections per client address and listener (0: no limit); below max_concurrency
    max_connections_per_client: int = 256
    shutdown_timeout: float = 20.0
    #: idle keep-alive, s: longer than kube-apiserver's 90 s client idle timeout, so the client
    #: always closes first (a server-side close races a reused connection: an EOF, and with
    #: failurePolicy Fail a denied request; kubernetes/kubernetes#127335)
    keep_alive: float = 120.0
    log_level: str = "info"

    # ---- resolved paths -------------------------------------------------------------------------
    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def dev_tls(self) -> bool:
        """True when no cert/key were given: a dev CA + server cert live under state_dir/tls."""
        return self.cert is None and self.key is None

    @property
    def ca_cert_path(self) -> Path:
        return self.tls_dir / "ca.crt"

    @property
    def ca_key_path(self) -> Path:
        return self.tls_dir / "ca.key"

    @property
    def cert_path(self) -> Path:
        return self.cert if self.cert is not None else self.tls_dir / "server.crt"

    @property
    def key_path(self) -> Path:
        return self.key if self.key is not None else self.tls_dir / "server.key"

    @property
    def audit_target(self) -> str | Path:
        """What `open_store` opens: the raw --audit-db string, else STATE_DIR/audit.db."""
        return self.audit_db if self.audit_db else self.state_dir / "audit.db"

    @property
    def audit_db_path(self) -> Path:
        """The SQLite default (and the path of a plain-path --audit-db)."""
        return Path(self.audit_db) if self.audit_db else self.state_dir / "audit.db"

    @property
    def tmp_dir(self) -> Path:
        """Upload spool directory: snapshots stream here, never into memory.

        `--spool-dir` puts it on its own volume: a full spool then refuses uploads (507) but
        never fills the audit store's disk, which would BLOCK every door."""
        return self.spool_dir if self.spool_dir is not None else self.state_dir / "tmp"

    def validate(self) -> ServerSettings:
        """Reject nonsense early with a message naming the setting."""
        self._check_listeners()
        self._check_positive()
        self._check_ranges()
        return self

    def _check_listeners(self) -> None:
        """Ports in range and distinct; --cert with --key."""
        for name in ("admission_port", "api_port", "metrics_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigError(f"must be 0..65535 (found {port})", field=name)
        ports = [self.admission_port, self.api_port, self.metrics_port]
        nonzero = [p for p in ports if p]
        if len(set(nonzero)) != len(nonzero):
            raise ConfigError(f"listener ports must differ (found {ports})", field="ports")
        if (self.cert is None) != (self.key is None):
            raise ConfigError("--cert and --key must be given together", field="cert")

    def _check_positive(self) -> None:
        """Timeouts, sizes and thread counts that must be above zero."""
        for name in (
            "admission_deadline", "api_deadline", "shutdown_timeout", "keep_alive",
            "header_timeout", "body_timeout",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ConfigError(f"must be > 0 (found {getattr(self, name)})", field=name)
        for name in (
            "max_body", "max_upload", "max_small_part", "snapshot_max_bytes", "max_header_bytes",
            "spool_max_bytes",
        ):  # fmt: skip
            if getattr(self, name) <= 0:
                raise ConfigError(f"must be > 0 (found {getattr(self, name)})", field=name)
        for name in ("engine_threads", "api_threads"):
            if getattr(self, name) < 1:
                raise ConfigError("must be >= 1", field=name)

    def _check_ranges(self) -> None:
        """The reload interval, rates, connection limits and log level."""
        if not 0 <= self.reload_interval <= 3600:
            raise ConfigError(
                f"must be 0..3600 s, 0: SIGHUP only (found {self.reload_interval})",
                field="reload_interval",
            )
        if self.body_min_rate < 0:
            raise ConfigError("must be >= 0", field="body_min_rate")
        if self.max_connections_per_client < 0:
            raise ConfigError("must be >= 0 (0: no limit)", field="max_connections_per_client")
        if self.max_concurrency < 1:
            raise ConfigError("must be >= 1", field="max_concurrency")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"must be one of {', '.join(LOG_LEVELS)}", field="log_level")

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_args(
        cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None
    ) -> ServerSettings:
        """Flag if given, else `MIGRATION_GATE_<NAME>`, else the dataclass default."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = getattr(args, f.name, None)
            source = f"--{f.name.replace('_', '-')}"
            if raw is None:
                env_name = ENV_PREFIX + f.name.upper()
                if env_name in env and env[env_name] != "":
                    raw = env[env_name]
                    source = env_name
            if raw is None:
                continue
            values[f.name] = _convert(f.name, raw, source)
        return cls(**values).validate()


def _to_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError("not a valid bool (use true/false)")


def _to_size(text: str) -> int:
    """`4194304`, `4MiB`, `8GiB`, `512KiB`."""
    units = {"kib": 1024, "mib": MIB, "gib": GIB, "k": 1024, "m": MIB, "g": GIB}
    low = text.strip().lower()
    for suffix, mult in units.items():
        if low.endswith(suffix):
            return int(float(low[: -len(suffix)]) * mult)
    return int(low)


def _to_names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "state_dir": Path,
    "host": str,
    "admission_port": int,
    "api_port": int,
    "metrics_port": int,
    "cert": Path,
    "key": Path,
    "client_ca": Path,
    "dns_names": _to_names,
    "api_tls": _to_bool,
    "allow_empty_trust": _to_bool,
    "trust_dir": Path,
    "policy": Path,
    "audit_db": str,
    "audit_db_password_file": Path,
    "token_file": Path,
    "admission_deadline": float,
    "max_body": _to_size,
    "max_upload": _to_size,
    "max_small_part": _to_size,
    "snapshot_root": Path,
    "snapshot_max_bytes": _to_size,
    "decision_cache_ttl": float,
    "reload_interval": float,
    "engine_threads": int,
    "api_threads": int,
    "api_deadline": float,
    "spool_dir": Path,
    "spool_max_bytes": _to_size,
    "max_concurrency": int,
    "header_timeout": float,
    "body_timeout": float,
    "body_min_rate": _to_size,
    "max_header_bytes": _to_size,
    "max_connections_per_client": int,
    "shutdown_timeout": float,
    "keep_alive": float,
    "log_level": lambda s: s.strip().lower(),
}


def _convert(name: str, raw: object, source: str) -> Any:
    """Typed value from a flag (already typed, or a list for repeated flags) or an env string."""
    if isinstance(raw, list | tuple):
        if name == "dns_names":
            out: list[str] = []
            for item in raw:
                out.extend(_to_names(str(item)))
            return tuple(out)
        raw = raw[-1]
    if name == "audit_db" and isinstance(raw, Path):
        raw = str(raw)  # a parser with type=Path: the string is what open_store parses
    if not isinstance(raw, str):
        return raw
    try:
        return _CONVERTERS[name](raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source} has value {raw!r}: {exc}", field=name) from exc
