"""ReloadingCertificate on real loopback handshakes: rotation, bad pairs, protocol floor."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from webhook.errors import ConfigError
from webhook.server.devcerts import issue_server_cert, make_ca, write_pair
from webhook.server.tls import CertInfo, ReloadingCertificate


class Pki:
    def __init__(self, root: Path) -> None:
        self.ca_key, self.ca_cert = make_ca()
        self.ca_path = root / "ca.crt"
        self.ca_path.write_bytes(self.ca_cert.public_bytes(encoding=_pem()))
        self.crt, self.key = root / "server.crt", root / "server.key"

    def issue(self) -> int:
        key, cert = issue_server_cert(self.ca_key, self.ca_cert, ["localhost", "127.0.0.1"])
        write_pair(self.crt, self.key, key, cert)
        return cert.serial_number


def _pem() -> Encoding:
    return Encoding.PEM


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Pki, ReloadingCertificate, int]]:
    pki = Pki(tmp_path)
    pki.issue()
    seen: list[CertInfo] = []
    reloader = ReloadingCertificate(pki.crt, pki.key, on_load=seen.append)
    assert seen and seen[0].serial == reloader.info.serial
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with reloader.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield pki, reloader, port
    stop.set()
    thread.join(5)
    listener.close()


def served_serial(pki: Pki, port: int, host: str = "localhost", **ctx_kw: object) -> int:
    ctx = ssl.create_default_context(cafile=str(pki.ca_path))
    for k, v in ctx_kw.items():
        setattr(ctx, k, v)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        tls.sendall(b"x")
        return x509.load_der_x509_certificate(der).serial_number


def test_rotation_is_served_on_next_handshake(
    server: tuple[Pki, ReloadingCertificate, int],
) -> None:
    pki, reloader, port = server
    first = served_serial(pki, port)
    assert first == reloader.info.serial
    second = pki.issue()
    assert served_serial(pki, port) == second
    assert reloader.reloads == 1
    # an IP literal sends no SNI: the callback still runs and swaps the context
    third = pki.issue()
    assert served_serial(pki, port, host="127.0.0.1") == third


def test_bad_pair_keeps_old_one(server: tuple[Pki, ReloadingCertificate, int]) -> None:
    pki, reloader, port = server
    good = served_serial(pki, port)
    # a key that does not belong to the certificate: refused, old pair still served
    other = ec.generate_private_key(ec.SECP256R1())
    _, cert = issue_server_cert(pki.ca_key, pki.ca_cert, ["localhost"])
    write_pair(pki.crt, pki.key, other, cert)
    assert served_serial(pki, port) == good
    assert served_serial(pki, port) == good
    assert reloader.failures == 1  # logged once per bad pair, not per handshake
    fixed = pki.issue()
    assert served_serial(pki, port) == fixed


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls11_is_refused(server: tuple[Pki, ReloadingCertificate, int]) -> None:
    pki, _, port = server
    with pytest.raises(ssl.SSLError):
        served_serial(
            pki, port, minimum_version=ssl.TLSVersion.TLSv1, maximum_version=ssl.TLSVersion.TLSv1_1
        )


def test_missing_cert_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        ReloadingCertificate(tmp_path / "nope.crt", tmp_path / "nope.key")
    assert "nope.crt" in err.value.diagnostics()
