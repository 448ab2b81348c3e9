"""Signing keys: the four algorithms the gate accepts, key ids, PEM I/O and raw sign/verify.

Algorithm choices (fixed per key type, so a signature never says which hash it used):
- ed25519: pure Ed25519 (RFC 8032); default.
- ecdsa-p256: ECDSA over P-256 with SHA-256; ecdsa-p384: P-384 with SHA-384. DER signatures,
  checked to be canonical DER with 0 < r, s < n before the curve math. High-S values are accepted
  because plain ECDSA (and every OpenSSL signer, securesystemslib included) produces them;
  malleability cannot inflate a threshold because thresholds count distinct keys, not signatures.
- rsa-pss: RSASSA-PSS, SHA-256, MGF1-SHA-256, salt length = digest length (32 bytes); modulus >=
  2048 bits (3072 when generated). A fixed salt length rather than "auto" on verify keeps the
  check exact; securesystemslib signs with the same parameters, so its signatures verify here.
Anything else (DSA, RSA < 2048, other curves, X25519/Ed448) is rejected on load.

`sign_raw`/`verify_raw` are primitives for `dsse`; callers outside the package use the DSSE recipe.
"""

from __future__ import annotations

import hashlib
from typing import Final, Literal, get_args

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from webhook.errors import InputError, SignatureError

KeyAlgorithm = Literal["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-pss"]
KEY_ALGORITHMS: Final[tuple[KeyAlgorithm, ...]] = get_args(KeyAlgorithm)
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

RSA_MIN_BITS: Final = 2048
RSA_DEFAULT_BITS: Final = 3072
#: a PEM key is a few KiB at most; anything bigger is not a key
MAX_PEM_BYTES: Final = 64 * 1024

_CURVES: Final[dict[str, tuple[KeyAlgorithm, hashes.HashAlgorithm, int]]] = {
    # curve name -> (algorithm, hash, group order n)
    "secp256r1": (
        "ecdsa-p256",
        hashes.SHA256(),
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
    "secp384r1": (
        "ecdsa-p384",
        hashes.SHA384(),
        int(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
            "581A0DB248B0A77AECEC196ACCC52973",
            16,
        ),
    ),
}
_PSS: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def generate_private_key(alg: KeyAlgorithm = "ed25519") -> PrivateKey:
    """A fresh private key for `alg` (RSA: 3072 bits, e = 65537)."""
    if alg == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "rsa-pss":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_DEFAULT_BITS)
    raise ValueError(f"unsupported key algorithm {alg!r} (use one of {KEY_ALGORITHMS})")


def _public(key: PrivateKey | PublicKey) -> PublicKey:
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return key.public_key()
    return key


def key_algorithm(key: PrivateKey | PublicKey) -> KeyAlgorithm:
    """Which of the gate's algorithms this key is for; ValueError if none."""
    pub = _public(key)
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        if pub.curve.name not in _CURVES:
            raise ValueError(f"unsupported EC curve {pub.curve.name}")
        return _CURVES[pub.curve.name][0]
    if isinstance(pub, rsa.RSAPublicKey):
        return "rsa-pss"
    raise ValueError(f"unsupported key type {type(pub).__name__}")


def key_id(key: PrivateKey | PublicKey) -> str:
    """`sha256:` + hex SHA-256 of the public key's DER SubjectPublicKeyInfo."""
    der = _public(key).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _check_supported(key: PrivateKey | PublicKey, *, file: str) -> None:
    pub = _public(key)
    if isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name not in _CURVES:
        raise InputError(
            f"EC curve {pub.curve.name} is not accepted (use P-256 or P-384)", file=file
        )
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size < RSA_MIN_BITS:
        raise InputError(
            f"RSA key has {pub.key_size} bits, at least {RSA_MIN_BITS} are required", file=file
        )


def _unsupported(obj: object, *, file: str) -> InputError:
    return InputError(
        f"key type {type(obj).__name__.lstrip('_')} is not accepted "
        "(use Ed25519, ECDSA P-256/P-384 or RSA >= 2048)",
        file=file,
    )


def _check_size(data: bytes, *, file: str) -> None:
    if len(data) > MAX_PEM_BYTES:
        raise InputError(f"key file is {len(data)} bytes, over {MAX_PEM_BYTES}", file=file)
    if not data.strip():
        raise InputError("key file is empty", file=file)


def load_private_key_pem(data: bytes, *, file: str) -> PrivateKey:
    """Parse an unencrypted PEM private key (PKCS#8 or traditional); InputError naming `file`."""
    _check_size(data, file=file)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InputError("encrypted private keys are not supported", file=file) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputError(f"not a PEM private key: {exc}", file=file) from None
    if not isinstance(
        key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ):
        raise _unsupported(key, file=file)
    _check_supported(key, file=file)
    return key


def load_public_key_pem(data: bytes, *, file: str) -> PublicKey:
    """Parse a PEM SubjectPublicKeyInfo public key; InputError naming `file`."""
    _check_size(data, file=file)
    if b"PRIVATE KEY-----" in data:
        raise InputError("this is a PRIVATE key; a trust store holds public keys only", file=file)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InputError(f"not a PEM public key: {exc}", file=file) from None
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise _unsupported(key, file=file)
    _check_supported(key, file=file)
    return key


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (callers writing test keys must label them as such)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of the (public half of the) key."""
    return _public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign_raw(key: PrivateKey, message: bytes) -> bytes:
    """Signature over `message` with the fixed parameters of the key's algorithm."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _CURVES:
            raise ValueError(f"unsupported EC curve {key.curve.name}")
        return key.sign(message, ec.ECDSA(_CURVES[key.curve.name][1]))
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < RSA_MIN_BITS:
            raise ValueError(f"RSA key of {key.key_size} bits is too small")
        return key.sign(message, _PSS, hashes.SHA256())
    raise ValueError(f"unsupported key type {type(key).__name__}")


def _ecdsa_ok(sig: bytes, n: int) -> bool:
    """Canonical DER with 0 < r, s < n; rejects trailing bytes, BER lengths and padded integers."""
    if len(sig) > 8 + 2 * ((n.bit_length() + 7) // 8 + 1):
        return False
    try:
        r, s = decode_dss_signature(sig)
    except ValueError:
        return False
    if not (0 < r < n and 0 < s < n):
        return False
    return encode_dss_signature(r, s) == sig


def verify_raw(public_key: PublicKey, signature: bytes, message: bytes) -> None:
    """Raise SignatureError unless `signature` is valid over `message` for `public_key`."""
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            if len(signature) != 64:
                raise InvalidSignature
            public_key.verify(signature, message)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            curve = _CURVES.get(public_key.curve.name)
            if curve is None or not _ecdsa_ok(signature, curve[2]):
                raise InvalidSignature
            public_key.verify(signature, message, ec.ECDSA(curve[1]))
        elif isinstance(public_key, rsa.RSAPublicKey):
            if public_key.key_size < RSA_MIN_BITS:
                raise InvalidSignature
            if len(signature) != (public_key.key_size + 7) // 8:
                raise InvalidSignature
            public_key.verify(signature, message, _PSS, hashes.SHA256())
        else:
            raise InvalidSignature
    except InvalidSignature:
        raise SignatureError(f"signature does not verify with key {key_id(public_key)}") from None
