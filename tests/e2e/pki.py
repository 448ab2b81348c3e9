"""Throw-away PKI for the loopback control plane, from the gate's own dev PKI (no openssl).

One CA signs the kube-apiserver serving certificate and the admin client certificate
(O=system:masters, so RBAC lets the tests do anything); a separate key pair signs service-account
tokens. Everything is EC P-256: fast to generate, accepted by every Kubernetes component.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from webhook.server.devcerts import issue_server_cert, make_ca, write_pair, write_private

VALIDITY = dt.timedelta(days=2)


@dataclass(frozen=True, slots=True)
class CertPair:
    """PEM files of one certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class ControlPlanePKI:
    """Paths of every credential the control plane and its clients need."""

    ca: CertPair
    serving: CertPair
    admin: CertPair
    sa_public: Path
    sa_private: Path


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    write_private(path, data, mode)
    return path


def make_pki(directory: Path, service_ip: str) -> ControlPlanePKI:
    """Writes CA, apiserver serving cert, admin client cert and SA key pair into `directory`.

    Certificates come from the gate's own dev PKI (`webhook.server.devcerts`), valid 2 days.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = make_ca("migration-gate-e2e-ca")
    until = dt.datetime.now(dt.UTC) + VALIDITY
    names = ["kube-apiserver", "localhost", "127.0.0.1", service_ip, "kubernetes",
             "kubernetes.default", "kubernetes.default.svc"]  # fmt: skip
    serving_key, serving_cert = issue_server_cert(ca_key, ca_cert, names, not_after=until)
    admin_key, admin_cert = issue_server_cert(
        ca_key, ca_cert, ["e2e-admin"], not_after=until, client_auth=True,
        organization="system:masters",
    )  # fmt: skip
    sa_key = ec.generate_private_key(ec.SECP256R1())
    pem = serialization.Encoding.PEM

    def pair(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> CertPair:
        found = CertPair(cert=directory / f"{stem}.crt", key=directory / f"{stem}.key")
        write_pair(found.cert, found.key, key, cert)
        return found

    return ControlPlanePKI(
        ca=pair("ca", ca_cert, ca_key),
        serving=pair("apiserver", serving_cert, serving_key),
        admin=pair("admin", admin_cert, admin_key),
        sa_public=_write(
            directory / "sa.pub",
            sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
            0o644,
        ),
        sa_private=_write(
            directory / "sa.key",
            sa_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        ),
    )
