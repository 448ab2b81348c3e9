"""`serve(settings)`: one process, three uvicorn servers on one event loop, graceful shutdown.

Start-up never refuses to run because of the *gate's* configuration: a policy bundle, trust store
or audit store that fails to load leaves the process serving but unready (/readyz 503) and every
admission denied with `gate-config-invalid`, so the failure is visible rather than a crash loop.
Transport problems (no usable certificate, a port in use) exit non-zero: nothing can be served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import uvloop
from starlette.types import ASGIApp

from webhook.audit import open_store
from webhook.audit.target import display_target
from webhook.errors import ConfigError
from webhook.pipelines import Engine
from webhook.server.app import GateApps, build_apps, trust_status
from webhook.server.auth import (
    TokenStore,
    default_token_files,
    ensure_token_file,
    link_legacy_names,
)
from webhook.server.connections import ConnectionLimits, Refusal, guarded_protocol
from webhook.server.devcerts import ensure_dev_tls
from webhook.server.gate import GateState
from webhook.server.logs import configure_logging
from webhook.server.metrics import GateMetrics
from webhook.server.reload import Reloader, Sources
from webhook.server.settings import ServerSettings
from webhook.server.tls import CertInfo, ReloadingCertificate
from webhook.server.uploads import sweep_stale_spools

log = logging.getLogger("migration_gate.serve")
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
#: uvicorn says these once per server; with three servers in one process, once is enough
_ONCE_PER_PROCESS = (
    "Started server process",
    "Waiting for application",
    "Application startup complete",
    "Shutting down",
    "Application shutdown complete",
    "Finished server process",
)


class OncePerProcess(logging.Filter):
    """Drops a repeat of uvicorn's per-server start and stop lines (three servers, one process)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(_ONCE_PER_PROCESS):
            return True
        if message in self._seen:
            return False
        self._seen.add(message)
        return True


@dataclass(frozen=True)
class Prepared:
    """What start-up made ready: the token store and where its files are."""

    tokens: TokenStore
    token_file: Path
    #: where the clear first-start token is (None with --token-file)
    token_text: Path | None
    #: the token just created (printed once, on the first start only)
    new_token: str | None


class _Server(uvicorn.Server):
    """uvicorn Server whose signals are handled once for all three servers by `serve`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Listener:
    name: str
    app: ASGIApp
    port: int
    cert: ReloadingCertificate | None


def load_state(settings: ServerSettings) -> GateState:
    """Engine and audit store; each failure recorded with its precise message, never raised."""
    state = GateState()
    try:
        state.engine = Engine.load(settings.policy, settings.trust_dir)
    except ConfigError as exc:
        trust = settings.trust_dir is not None and (exc.file or "").startswith(
            str(settings.trust_dir)
        )
        state.errors["trust" if trust else "policy"] = exc.diagnostics()
        log.error(
            "gate not ready: %s",
            exc.diagnostics(),
            extra={"event": "config-invalid", "component": "engine"},
        )
    if state.engine is not None:
        status = trust_status(state.engine)
        if status != "ok":  # serving, but never ALLOWing prod: say so loudly, once, at start
            log.error(
                "gate not ready: %s",
                status,
                extra={"event": "trust-store-empty", "component": "trust"},
            )
    try:
        state.store = open_store(
            settings.audit_target, password_file=settings.audit_db_password_file
        )
    except (ConfigError, OSError) as exc:
        msg = exc.diagnostics() if isinstance(exc, ConfigError) else str(exc)
        state.errors["audit"] = msg
        log.error(
            "gate not ready: %s", msg, extra={"event": "config-invalid", "component": "audit"}
        )
    return state


def prepare(settings: ServerSettings) -> Prepared:
    """State dir, dev TLS material, token files; the first-start token is printed once."""
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    swept = sweep_stale_spools(settings.tmp_dir)  # a crashed process's uploads: never removed
    if swept:
        log.info(
            "removed %d stale upload spool(s) under %s",
            swept,
            settings.tmp_dir,
            extra={"event": "spool-swept"},
        )
    if settings.dev_tls and ensure_dev_tls(
        settings.ca_cert_path,
        settings.ca_key_path,
        settings.cert_path,
        settings.key_path,
        settings.dns_names,
    ):
        log.info(
            "wrote dev CA and server certificate under %s",
            settings.tls_dir,
            extra={"event": "dev-tls"},
        )
    if settings.token_file is not None:
        if not settings.token_file.exists():
            raise ConfigError("token file not found", file=str(settings.token_file))
        return Prepared(TokenStore.load(settings.token_file), settings.token_file, None, None)
    files = default_token_files(settings.state_dir)
    if files.deprecated is not None:
        log.warning(files.deprecated, extra={"event": "deprecated"})
    token = ensure_token_file(files.hashes, files.clear)
    if files.deprecated is None:
        link_legacy_names(files)
    return Prepared(TokenStore.load(files.hashes), files.hashes, files.clear, token)


def _cert(settings: ServerSettings, metrics: GateMetrics, name: str) -> ReloadingCertificate:
    def on_load(info: CertInfo) -> None:
        metrics.tls_not_after.labels(listener=name).set(info.not_after.timestamp())

    reloader = ReloadingCertificate(
        settings.cert_path,
        settings.key_path,
        client_ca=settings.client_ca if name == "admission" else None,
        on_load=on_load,
        on_refused=metrics.tls_reload_failures.labels(listener=name).inc,
    )
    return reloader


def connection_limits(settings: ServerSettings) -> ConnectionLimits:
    return ConnectionLimits(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        body_min_rate=settings.body_min_rate,
        max_header_bytes=settings.max_header_bytes,
        max_per_client=settings.max_connections_per_client,
    )


def _config(
    settings: ServerSettings, listener: Listener, metrics: GateMetrics | None = None
) -> uvicorn.Config:
    """uvicorn's config for one listener: its own guarded protocol (per-client counts apart)."""
    refused = (metrics or GateMetrics()).connections_refused

    def on_refused(reason: Refusal) -> None:
        refused.labels(listener=listener.name, reason=reason).inc()

    kwargs: dict[str, object] = {}
    if listener.cert is not None:
        kwargs = {"ssl_certfile": str(listener.cert.cert), "ssl_keyfile": str(listener.cert.key)}
    config = uvicorn.Config(
        listener.app,
        host=settings.host,
        port=listener.port,
        loop="none",
        http=guarded_protocol(connection_limits(settings), on_refused),
        lifespan="off",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=int(max(1, settings.shutdown_timeout)),
        timeout_keep_alive=max(1, int(settings.keep_alive)),
        limit_concurrency=settings.max_concurrency,
        **kwargs,  # type: ignore[arg-type]
    )
    config.load()
    if listener.cert is not None:
        # swap in our context (TLS 1.2+, AEAD, sni_callback reload) after load()
        config.ssl = listener.cert.context
    return config


def _trust_line(settings: ServerSettings, state: GateState) -> str:
    if state.engine is None:
        return "not loaded (see the error above)"
    status = trust_status(state.engine)
    if status != "ok":
        return status
    return f"{len(state.engine.trust_store)} key(s) from {settings.trust_dir}"


def _policy_line(settings: ServerSettings, state: GateState) -> str:
    if state.engine is None:
        return "not loaded (see the error above)"
    source = settings.policy if settings.policy is not None else "built-in default"
    return f"{state.engine.bundle_digest} ({source})"


def _banner(
    settings: ServerSettings,
    servers: dict[str, _Server],
    ready: Prepared,
    state: GateState,
) -> None:
    """Every start says where its state is and what it decides with; a new token, once."""
    urls: dict[str, str] = {}
    for name, server in servers.items():
        scheme = "https" if server.config.ssl is not None else "http"
        port = server.servers[0].sockets[0].getsockname()[1] if server.servers else 0
        host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        urls[name] = f"{scheme}://{host}:{port}"
    log.info("serving", extra={"event": "listening", "url": urls})
    lines = [
        "migration-gate is serving",
        f"  state dir : {settings.state_dir.resolve()}",
        f"  admission : {urls['admission']}/admission/v1/validate",
        f"  API       : {urls['api']}/api/v1/  (openapi: {urls['api']}/api/v1/openapi.json)",
        f"  UI        : {urls['api']}/ui/  (sign in with an operator or viewer token)",
        f"  metrics   : {urls['metrics']}/metrics  {urls['metrics']}/readyz",
        f"  audit db  : {display_target(settings.audit_target)}",
        f"  policy    : {_policy_line(settings, state)}",
        f"  trust     : {_trust_line(settings, state)}",
        f"  tokens    : {ready.token_file}  (SHA-256 of each token, never a token)",
    ]
    if settings.dev_tls:
        lines.append(f"  dev CA    : {settings.ca_cert_path.resolve()}  (curl --cacert ...)")
    if ready.new_token is not None:
        lines.append(f"  operator token (shown once, also in {ready.token_text}):")
        lines.append(f"    {ready.new_token}")
    elif ready.token_text is not None and ready.token_text.exists():
        lines.append(f"  operator token: in {ready.token_text} (written on the first start)")
    print("\n".join(lines), file=sys.stderr, flush=True)


class _Listeners:
    """The uvicorn servers of one gate, started and stopped together."""

    def __init__(self, servers: dict[str, _Server]) -> None:
        self.servers = servers
        self.stopping = asyncio.Event()
        self.failed: list[str] = []

    def on_signal(self, sig: signal.Signals) -> None:
        log.info(
            "received %s: stop accepting, finish in-flight requests",
            sig.name,
            extra={"event": "shutdown"},
        )
        for server in self.servers.values():
            if server.should_exit:
                server.force_exit = True  # second signal: stop waiting
            server.should_exit = True
        self.stopping.set()

    async def run_one(self, name: str, server: _Server) -> None:
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits on bind errors; take the others down too
            self.failed.append(name)
            for other in self.servers.values():
                other.should_exit = True

    async def started(self) -> bool:
        """True once every listener is up; False if one failed or a stop came first."""
        while not all(s.started for s in self.servers.values()):
            if self.failed or self.stopping.is_set():
                return False
            await asyncio.sleep(0.02)
        return True


async def _serve_all(
    settings: ServerSettings,
    apps: GateApps,
    listeners: list[Listener],
    ready: Prepared,
    reloader: Reloader | None = None,
) -> int:
    group = _Listeners(
        {lst.name: _Server(_config(settings, lst, apps.metrics)) for lst in listeners}
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, group.on_signal, sig)
    watcher: asyncio.Task[None] | None = None
    if reloader is not None:  # SIGHUP: reload the bundle and trust store now
        loop.add_signal_handler(signal.SIGHUP, reloader.request)
        watcher = loop.create_task(reloader.run(), name="reload")

    async def announce() -> None:
        if await group.started():
            _banner(settings, group.servers, ready, apps.gate.state)

    await asyncio.gather(announce(), *(group.run_one(n, s) for n, s in group.servers.items()))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(sig)
    if watcher is not None:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if group.failed:
        log.error(
            "listener(s) failed to start: %s", ", ".join(group.failed), extra={"event": "exit"}
        )
        return EXIT_FAILED
    return EXIT_OK


def serve(settings: ServerSettings) -> int:
    """Run the gate until SIGTERM/SIGINT; 0 after a clean shutdown."""
    configure_logging(settings.log_level)
    logging.getLogger("uvicorn.error").addFilter(OncePerProcess())
    metrics = GateMetrics()
    try:
        ready = prepare(settings)
        certs = {"admission": _cert(settings, metrics, "admission")}
        if settings.api_tls:
            certs["api"] = _cert(settings, metrics, "api")
    except ConfigError as exc:
        log.error("cannot start: %s", exc.diagnostics(), extra={"event": "exit"})
        print(f"migration-gate serve: {exc.diagnostics()}", file=sys.stderr)
        return EXIT_CONFIG
    sources = Sources(settings.policy, settings.trust_dir)
    seen = sources.identity()  # before the load: a change during it is seen by the first check
    state = load_state(settings)
    apps = build_apps(settings, state, ready.tokens, metrics=metrics, certs=certs)
    reloader = Reloader(
        state, metrics, sources, interval=settings.reload_interval, cache=apps.gate.cache,
        seen=seen,
    )  # fmt: skip
    listeners = [
        Listener("admission", apps.admission, settings.admission_port, certs["admission"]),
        Listener("api", apps.api, settings.api_port, certs.get("api")),
        Listener("metrics", apps.ops, settings.metrics_port, None),
    ]
    try:
        code = uvloop.run(_serve_all(settings, apps, listeners, ready, reloader))
    finally:
        reloader.close()
        apps.gate.close()
        if state.store is not None:
            close = getattr(state.store, "close", None)
            if callable(close):
                close()
    log.info("stopped", extra={"event": "exit"})
    return code
