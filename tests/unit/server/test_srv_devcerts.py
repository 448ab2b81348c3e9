"""Dev CA + server cert: SANs, permissions, idempotence, re-issue on new names."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509

from webhook.server.devcerts import ensure_dev_tls


def paths(tmp: Path) -> tuple[Path, Path, Path, Path]:
    d = tmp / "tls"
    return d / "ca.crt", d / "ca.key", d / "server.crt", d / "server.key"


def sans(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {
        str(i) for i in san.get_values_for_type(x509.IPAddress)
    }


def test_generate_then_idempotent_then_reissue(tmp_path: Path) -> None:
    ca, ca_key, crt, key = paths(tmp_path)
    assert ensure_dev_tls(ca, ca_key, crt, key) is True
    assert {"localhost", "127.0.0.1", str(ipaddress.ip_address("::1"))} <= sans(crt)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca_key.stat().st_mode) == 0o600
    serial = x509.load_pem_x509_certificate(crt.read_bytes()).serial_number
    assert ensure_dev_tls(ca, ca_key, crt, key) is False
    assert ensure_dev_tls(ca, ca_key, crt, key, ["gate.gate-system.svc"]) is True
    assert "gate.gate-system.svc" in sans(crt)
    new = x509.load_pem_x509_certificate(crt.read_bytes())
    assert new.serial_number != serial
    ca_cert = x509.load_pem_x509_certificate(ca.read_bytes())
    new.verify_directly_issued_by(ca_cert)


def test_client_certificate_carries_its_organization() -> None:
    """Kubernetes maps a client certificate's O to groups (the e2e admin is system:masters)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from webhook.server.devcerts import issue_server_cert, make_ca

    ca_key, ca_cert = make_ca("test CA")
    _, cert = issue_server_cert(
        ca_key, ca_cert, ["e2e-admin"], client_auth=True, organization="system:masters"
    )
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "e2e-admin"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    _, plain = issue_server_cert(ca_key, ca_cert, ["localhost"])
    assert plain.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []
