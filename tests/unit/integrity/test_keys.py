"""Key generation, key ids and PEM loading with the gate's algorithm restrictions."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa, x25519

from webhook.errors import InputError, SignatureError
from webhook.integrity import (
    KEY_ALGORITHMS,
    PrivateKey,
    key_algorithm,
    key_id,
    load_private_key_pem,
    load_public_key_pem,
    private_key_pem,
    public_key_pem,
)
from webhook.integrity.keys import sign_raw, verify_raw


@pytest.mark.parametrize("alg", KEY_ALGORITHMS)
def test_round_trip_pem_and_key_id(keys: dict[str, list[PrivateKey]], alg: str) -> None:
    key = keys[alg][0]
    assert key_algorithm(key) == alg
    priv = load_private_key_pem(private_key_pem(key), file="k.pem")
    pub = load_public_key_pem(public_key_pem(key), file="k.pub")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key_id(pub) == key_id(priv) == key_id(key) == "sha256:" + hashlib.sha256(der).hexdigest()
    sig = sign_raw(priv, b"message")
    verify_raw(pub, sig, b"message")
    with pytest.raises(SignatureError):
        verify_raw(pub, sig, b"other message")


def test_generated_rsa_is_3072_bits(keys: dict[str, list[PrivateKey]]) -> None:
    key = keys["rsa-pss"][0]
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 3072


def pems_of(key: object) -> tuple[bytes, bytes]:
    priv = key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pub = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return priv, pub


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: rsa.generate_private_key(65537, 1024), "RSA key has 1024 bits, at least 2048"),
        (lambda: ec.generate_private_key(ec.SECP521R1()), "EC curve secp521r1 is not accepted"),
        (lambda: ec.generate_private_key(ec.SECP256K1()), "EC curve secp256k1 is not accepted"),
        (lambda: dsa.generate_private_key(2048), "is not accepted"),
        (ed448.Ed448PrivateKey.generate, "is not accepted"),
        (x25519.X25519PrivateKey.generate, "is not accepted"),
    ],
)
def test_unsupported_keys_are_rejected_naming_the_file(make: object, message: str) -> None:
    priv, pub = pems_of(make())  # type: ignore[operator]
    with pytest.raises(InputError, match=message) as exc:
        load_private_key_pem(priv, file="signer.pem")
    assert exc.value.file == "signer.pem"
    with pytest.raises(InputError, match=message) as exc:
        load_public_key_pem(pub, file="trusted.pub")
    assert exc.value.file == "trusted.pub"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "key file is empty"),
        (b"-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", "not a PEM"),
        (b"x" * 70_000, "over 65536"),
        (b"\xff\xfe garbage", "not a PEM"),
    ],
)
def test_garbage_key_files(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_public_key_pem(data, file="k.pub")
    with pytest.raises(InputError, match=message):
        load_private_key_pem(data, file="k.pem")


def test_private_key_in_place_of_public_key(keys: dict[str, list[PrivateKey]]) -> None:
    with pytest.raises(InputError, match="PRIVATE key"):
        load_public_key_pem(private_key_pem(keys["ed25519"][0]), file="oops.pem")


def test_encrypted_private_key_is_refused(keys: dict[str, list[PrivateKey]]) -> None:
    pem = keys["ed25519"][0].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    with pytest.raises(InputError, match="encrypted private keys are not supported"):
        load_private_key_pem(pem, file="k.pem")
