"""Server TLS: modern defaults and certificates that rotate without a restart.

`ReloadingCertificate` watches the cert and key files (mtime, size, inode; also through the
symlink swap a Kubernetes Secret volume does) and, from the `sni_callback` of the listening
context, hands every new handshake a context holding the current pair. A broken new pair is
refused loudly and the last good one keeps serving, so a bad rotation never drops traffic.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from webhook.errors import ConfigError

log = logging.getLogger("migration_gate.tls")

#: ECDHE key exchange with AEAD ciphers only (TLS 1.2); TLS 1.3 suites are AEAD by definition.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def new_server_context(cert: Path, key: Path, *, client_ca: Path | None = None) -> ssl.SSLContext:
    """A TLS 1.2+ server context for one cert/key pair. ConfigError if the pair is unusable."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot load certificate/key pair: {exc}", file=str(cert)) from exc
    if client_ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(client_ca))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"cannot load client CA: {exc}", file=str(client_ca)) from exc
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What the metrics and readiness probe need to know about the served certificate."""

    serial: int
    not_after: dt.datetime

    @property
    def expired(self) -> bool:
        return self.not_after <= dt.datetime.now(dt.UTC)


def _fingerprint(*paths: Path) -> tuple[tuple[int, int, int, int], ...]:
    out = []
    for p in paths:
        st = os.stat(p)  # follows symlinks: a swapped ..data link changes the inode seen here
        out.append((st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns))
    return tuple(out)


def read_cert_info(cert: Path) -> CertInfo:
    try:
        parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot parse certificate: {exc}", file=str(cert)) from exc
    return CertInfo(serial=parsed.serial_number, not_after=parsed.not_valid_after_utc)


class ReloadingCertificate:
    """Owns the listening context; re-reads the pair on change and swaps it into new handshakes."""

    def __init__(
        self,
        cert: Path,
        key: Path,
        *,
        client_ca: Path | None = None,
        on_load: Callable[[CertInfo], None] | None = None,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        self.cert = cert
        self.key = key
        self.client_ca = client_ca
        self._on_load = on_load
        self._on_refused = on_refused
        self._lock = threading.Lock()
        self._last_bad: tuple[tuple[int, int, int, int], ...] | None = None
        # Fail fast at start: no serving without a usable pair.
        for p in (cert, key):
            if not p.exists():
                raise ConfigError("certificate file not found", file=str(p))
        self._fp = _fingerprint(cert, key)
        self._current = new_server_context(cert, key, client_ca=client_ca)
        self.info = read_cert_info(cert)
        self.reloads = 0
        self.failures = 0
        self._listening = new_server_context(cert, key, client_ca=client_ca)
        self._listening.sni_callback = self._on_handshake
        self._notify()
        if self.info.expired:
            log.error(
                "served certificate %s expired at %s",
                cert,
                self.info.not_after.isoformat(),
                extra={"event": "tls-cert-expired"},
            )

    @property
    def context(self) -> ssl.SSLContext:
        """The context to listen with (uvicorn `ssl_context_factory`)."""
        return self._listening

    def _notify(self) -> None:
        if self._on_load is not None:
            self._on_load(self.info)

    def current(self) -> ssl.SSLContext:
        """The context for the next handshake, reloading first if the files changed."""
        try:
            fp = _fingerprint(self.cert, self.key)
        except OSError as exc:
            self._refuse(None, f"certificate files unreadable: {exc}")
            return self._current
        if fp in (self._fp, self._last_bad):
            return self._current
        with self._lock:
            if fp == self._fp:
                return self._current
            try:
                ctx = new_server_context(self.cert, self.key, client_ca=self.client_ca)
                info = read_cert_info(self.cert)
            except (ConfigError, OSError) as exc:
                self._refuse(fp, str(exc))
                return self._current
            # keep the pre-read fingerprint: a change during the read triggers another reload
            self._current, self._fp, self.info = ctx, fp, info
            self._last_bad = None
            self.reloads += 1
        log.info(
            "reloaded TLS certificate %s serial=%x not_after=%s",
            self.cert,
            info.serial,
            info.not_after.isoformat(),
            extra={"event": "tls-reload"},
        )
        self._notify()
        return self._current

    def _refuse(self, fp: tuple[tuple[int, int, int, int], ...] | None, why: str) -> None:
        if fp is not None and fp == self._last_bad:
            return
        self._last_bad = fp
        self.failures += 1
        if self._on_refused is not None:
            self._on_refused()
        log.error(
            "new TLS certificate/key refused, still serving serial=%x: %s",
            self.info.serial,
            why,
            extra={"event": "tls-reload-failed"},
        )

    def _on_handshake(
        self, sslobj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, ctx: ssl.SSLContext
    ) -> None:
        """sni_callback: runs on every ClientHello (with or without SNI)."""
        sslobj.context = self.current()
