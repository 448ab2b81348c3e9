"""Dev CA and server certificate for `make run` and tests, made with `cryptography`.

Idempotent: an existing CA is reused; the server certificate is (re)issued only when missing,
expiring within 30 days, not issued by the CA, or missing a requested SAN. Keys are written 0600
via an O_EXCL temp file + rename (`webhook.atomicfile`), so a reloading server never sees
half a file and a symlink planted at a temp name is never followed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from webhook.atomicfile import write_atomic
from webhook.errors import ConfigError

DEFAULT_NAMES = ("localhost", "127.0.0.1", "::1")
CA_DAYS = 3650
SERVER_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=30)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomic write, 0600 from the first byte; never follows a name planted beside `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data, mode=mode)


def _san(names: Sequence[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_ca(
    common_name: str = "migration-gate dev CA",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed P-256 CA that can only sign end-entity certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: Sequence[str],
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    client_auth: bool = False,
    organization: str | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A P-256 leaf for `names` (DNS names or IPs) signed by the CA; dates overridable for tests.

    The subject is CN=names[0], plus O=`organization` when given (Kubernetes reads a client
    certificate's O as its groups).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    start = not_before or now - dt.timedelta(minutes=5)
    end = not_after or now + dt.timedelta(days=SERVER_DAYS)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [ExtendedKeyUsageOID.SERVER_AUTH]
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, names[0])]
    if organization is not None:
        subject.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_san(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def write_pair(
    cert_path: Path, key_path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> None:
    """Key first, then cert: a reader that sees the new cert also finds the new key."""
    write_private(key_path, _key_pem(key))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _load_ca(
    ca_cert_path: Path, ca_key_path: Path
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    if not (ca_cert_path.exists() and ca_key_path.exists()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"unreadable dev CA: {exc}", file=str(ca_cert_path)) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError("dev CA key is not an EC key", file=str(ca_key_path))
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return None
    return key, cert


def _server_cert_ok(
    cert_path: Path, key_path: Path, ca_cert: x509.Certificate, names: Sequence[str]
) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, OSError, x509.ExtensionNotFound):
        return False
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return False
    have = {str(n) for n in san.get_values_for_type(x509.DNSName)}
    have |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    want = set()
    for n in names:
        try:
            want.add(str(ipaddress.ip_address(n)))
        except ValueError:
            want.add(n)
    return want <= have


def ensure_dev_tls(
    ca_cert_path: Path,
    ca_key_path: Path,
    cert_path: Path,
    key_path: Path,
    extra_names: Sequence[str] = (),
) -> bool:
    """Make sure a dev CA and a server cert for localhost + `extra_names` exist. True if written."""
    names = [*DEFAULT_NAMES, *extra_names]
    ca = _load_ca(ca_cert_path, ca_key_path)
    wrote = False
    if ca is None:
        ca_key, ca_cert = make_ca()
        write_pair(ca_cert_path, ca_key_path, ca_key, ca_cert)
        wrote = True
    else:
        ca_key, ca_cert = ca
    if wrote or not _server_cert_ok(cert_path, key_path, ca_cert, names):
        key, cert = issue_server_cert(ca_key, ca_cert, names)
        write_pair(cert_path, key_path, key, cert)
        wrote = True
    return wrote
