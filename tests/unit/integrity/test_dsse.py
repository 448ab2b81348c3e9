"""DSSE: PAE, strict parsing, per-algorithm round trips, malformed signatures, thresholds."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from webhook.errors import ConfigError, InputError, SignatureError
from webhook.integrity import (
    KEY_ALGORITHMS,
    Envelope,
    EnvelopeSignature,
    PrivateKey,
    TrustStore,
    envelope_json,
    key_id,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from webhook.integrity.keys import sign_raw

PT = "application/vnd.migrationgate.manifest+json"
PAYLOAD = b'{"app_id":"payments","env":"prod","version":"4.2.0"}'
FILE = "migration_manifest.dsse.json"

Keys = dict[str, list[PrivateKey]]


def trust_of(*keys: PrivateKey) -> TrustStore:
    return TrustStore(k.public_key() for k in keys)


def test_pae_matches_the_spec_example() -> None:
    # example from the DSSE v1 protocol document
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("", b"") == b"DSSEv1 0  0 "
    assert pae("t\u00e9", b"x") == b"DSSEv1 3 t\xc3\xa9 1 x"  # length counts UTF-8 bytes


@pytest.mark.parametrize("alg", KEY_ALGORITHMS)
def test_round_trip_each_algorithm(keys: Keys, alg: str) -> None:
    key = keys[alg][0]
    env = sign_envelope(PAYLOAD, PT, [key])
    raw = envelope_json(env)
    parsed = parse_envelope(raw, file=FILE)
    assert parsed == env
    assert envelope_json(parsed) == raw
    doc = json.loads(raw)
    assert base64.b64decode(doc["payload"]) == PAYLOAD
    assert doc["signatures"][0]["keyid"] == key_id(key)
    out = verify_envelope(parsed, trust_of(key), payload_type=PT, file=FILE)
    assert out.payload == PAYLOAD
    assert out.signers == (key_id(key),)


# --- Wycheproof-style malformed signatures ---------------------------------------------------

N = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973", 16,
    ),
}
ED25519_L = 2**252 + 27742317777372353535851937790883648493


def der_int(v: int, pad: bool = False) -> bytes:
    body = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    if pad:
        body = b"\x00" + body
    return b"\x02" + bytes([len(body)]) + body


def ecdsa_variants(sig: bytes, n: int) -> dict[str, bytes]:
    r, s = decode_dss_signature(sig)
    seq = der_int(r) + der_int(s)
    return {
        "r=0": encode_dss_signature(0, s),
        "s=0": encode_dss_signature(r, 0),
        "r=n": encode_dss_signature(n, s),
        "s=n": encode_dss_signature(r, n),
        "s=s+n": encode_dss_signature(r, s + n),
        "r=r+n": encode_dss_signature(r + n, s),
        "r and s swapped": encode_dss_signature(s, r),
        "DER with trailing bytes": sig + b"\x00",
        "DER long-form length": b"\x30\x81" + bytes([len(seq)]) + seq,
        "DER integer with extra zero": b"\x30" + bytes([len(seq) + 1]) + der_int(r, True)
        + der_int(s),
        "raw r||s instead of DER": r.to_bytes((n.bit_length() + 7) // 8, "big")
        + s.to_bytes((n.bit_length() + 7) // 8, "big"),
    }


def malformed(alg: str, key: PrivateKey, sig: bytes) -> dict[str, bytes]:
    flipped = bytearray(sig)
    flipped[len(sig) // 2] ^= 0x10
    cases = {
        "empty": b"",
        "truncated": sig[:-1],
        "bit-flipped": bytes(flipped),
        "all-zero": bytes(len(sig)),
        "one byte longer": sig + b"\x00",
        "doubled": sig + sig,
    }
    if alg == "ed25519":
        s = int.from_bytes(sig[32:], "little")
        cases["high-S (S + L)"] = sig[:32] + (s + ED25519_L).to_bytes(32, "little")
        cases["S = L"] = sig[:32] + ED25519_L.to_bytes(32, "little")
    elif alg.startswith("ecdsa"):
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        cases.update(ecdsa_variants(sig, N[key.curve.name]))
    else:
        cases["one byte shorter (leading byte dropped)"] = sig[1:]
        cases["all 0xff (>= modulus)"] = b"\xff" * len(sig)
        cases["zero-padded to 4096 bits"] = bytes(512 - len(sig)) + sig
    return cases


def table() -> list[tuple[str, str]]:
    names = {
        "ed25519": ["high-S (S + L)", "S = L"],
        "ecdsa-p256": list(ecdsa_variants(encode_dss_signature(1, 1), N["secp256r1"])),
        "ecdsa-p384": list(ecdsa_variants(encode_dss_signature(1, 1), N["secp384r1"])),
        "rsa-pss": ["one byte shorter (leading byte dropped)", "all 0xff (>= modulus)",
                    "zero-padded to 4096 bits"],
    }
    base = ["empty", "truncated", "bit-flipped", "all-zero", "one byte longer", "doubled"]
    return [(alg, case) for alg in KEY_ALGORITHMS for case in base + names[alg]]


@pytest.mark.parametrize(("alg", "case"), table())
def test_malformed_signature_fails(keys: Keys, alg: str, case: str) -> None:
    key = keys[alg][0]
    good = sign_envelope(PAYLOAD, PT, [key])
    bad_sig = malformed(alg, key, good.signatures[0].sig)[case]
    env = Envelope(payloadType=PT, payload=PAYLOAD,
                   signatures=[EnvelopeSignature(keyid=key_id(key), sig=bad_sig)])
    # also survives the JSON round trip, so the parser is not what rejects it
    env = parse_envelope(envelope_json(env), file=FILE)
    with pytest.raises(SignatureError) as exc:
        verify_envelope(env, trust_of(key), payload_type=PT, file=FILE)
    assert exc.value.file == FILE and exc.value.field == "signatures"
    assert f"signatures[0] is invalid for trusted key {key_id(key)}" in exc.value.message


Tamper = Callable[[Envelope, PrivateKey, PrivateKey], tuple[Envelope, str]]

TAMPERING: dict[str, Tamper] = {
    "signature from another key under the trusted keyid": lambda env, k, other: (
        env.model_copy(update={"signatures": [EnvelopeSignature(
            keyid=key_id(k), sig=sign_raw(other, pae(PT, PAYLOAD)))]}), PT),
    "signature over the payload without PAE": lambda env, k, other: (
        env.model_copy(update={"signatures": [EnvelopeSignature(
            keyid=key_id(k), sig=sign_raw(k, PAYLOAD))]}), PT),
    "payloadType changed (and expected)": lambda env, k, other: (
        env.model_copy(update={"payloadType": "application/vnd.other+json"}),
        "application/vnd.other+json"),
    "payload changed": lambda env, k, other: (
        env.model_copy(update={"payload": PAYLOAD.replace(b"4.2.0", b"4.2.1")}), PT),
}


@pytest.mark.parametrize("alg", KEY_ALGORITHMS)
@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampered_envelopes_fail(keys: Keys, alg: str, how: str) -> None:
    key, other = keys[alg][0], keys[alg][1]
    env, expected_type = TAMPERING[how](sign_envelope(PAYLOAD, PT, [key]), key, other)
    env = parse_envelope(envelope_json(env), file=FILE)
    with pytest.raises(SignatureError, match="is invalid for trusted key"):
        verify_envelope(env, trust_of(key), payload_type=expected_type, file=FILE)


def test_ecdsa_high_s_is_accepted_as_plain_ecdsa(keys: Keys) -> None:
    """Documented choice: (r, n - s) is a valid ECDSA signature; OpenSSL signers emit both."""
    key = keys["ecdsa-p256"][0]
    env = sign_envelope(PAYLOAD, PT, [key])
    r, s = decode_dss_signature(env.signatures[0].sig)
    flipped = encode_dss_signature(r, N["secp256r1"] - s)
    env2 = env.model_copy(update={"signatures": [EnvelopeSignature(keyid="", sig=flipped)]})
    assert verify_envelope(env2, trust_of(key), payload_type=PT, file=FILE).signers == (
        key_id(key),
    )


# --- reasons ---------------------------------------------------------------------------------


def test_wrong_payload_type_is_named(keys: Keys) -> None:
    env = sign_envelope(PAYLOAD, PT, [keys["ed25519"][0]])
    with pytest.raises(SignatureError) as exc:
        verify_envelope(env, trust_of(keys["ed25519"][0]), payload_type="application/x", file=FILE)
    assert exc.value.field == "payloadType"
    assert f"payloadType is '{PT}', expected 'application/x'" in exc.value.message


def test_no_signatures(keys: Keys) -> None:
    env = Envelope(payloadType=PT, payload=PAYLOAD, signatures=[])
    with pytest.raises(SignatureError, match="envelope has no signatures"):
        verify_envelope(env, trust_of(keys["ed25519"][0]), payload_type=PT, file=FILE)


def test_untrusted_key_names_the_keyids_seen(keys: Keys) -> None:
    signer, trusted = keys["ed25519"][0], keys["ed25519"][1]
    env = sign_envelope(PAYLOAD, PT, [signer])
    with pytest.raises(SignatureError) as exc:
        verify_envelope(env, trust_of(trusted), payload_type=PT, file=FILE)
    assert exc.value.message == (
        f"no trusted key signed this envelope (signature keyids: '{key_id(signer)}')"
    )


def test_empty_trust_store(keys: Keys) -> None:
    env = sign_envelope(PAYLOAD, PT, [keys["ed25519"][0]])
    with pytest.raises(SignatureError, match="trust store is empty"):
        verify_envelope(env, TrustStore.empty(), payload_type=PT, file=FILE)


# --- thresholds ------------------------------------------------------------------------------


def test_two_of_three(keys: Keys) -> None:
    k1, k2, k3 = keys["ed25519"][0], keys["ecdsa-p256"][0], keys["rsa-pss"][0]
    trust = trust_of(k1, k2, k3)
    out = verify_envelope(sign_envelope(PAYLOAD, PT, [k1, k3]), trust, payload_type=PT,
                          threshold=2, file=FILE)
    assert set(out.signers) == {key_id(k1), key_id(k3)}
    with pytest.raises(SignatureError) as exc:
        verify_envelope(sign_envelope(PAYLOAD, PT, [k2]), trust, payload_type=PT, threshold=2,
                        file=FILE)
    assert exc.value.message == (
        "2 distinct trusted keys must sign, 1 did (of 1 signatures, 3 trusted keys)"
    )


def test_duplicate_signatures_by_one_key_count_once(keys: Keys) -> None:
    k1, k2 = keys["ecdsa-p256"][0], keys["ecdsa-p256"][1]
    env = sign_envelope(PAYLOAD, PT, [k1, k1, k1])  # ECDSA: three different signatures
    assert len({s.sig for s in env.signatures}) == 3
    unhinted = env.model_copy(
        update={"signatures": [EnvelopeSignature(keyid="", sig=s.sig) for s in env.signatures]}
    )
    for e in (env, unhinted):
        with pytest.raises(SignatureError, match="2 distinct trusted keys must sign, 1 did"):
            verify_envelope(e, trust_of(k1, k2), payload_type=PT, threshold=2, file=FILE)


def test_untrusted_signer_does_not_count_towards_threshold(keys: Keys) -> None:
    k1, k2, outsider = keys["ed25519"]
    env = sign_envelope(PAYLOAD, PT, [k1, outsider])
    with pytest.raises(SignatureError, match="must sign, 1 did"):
        verify_envelope(env, trust_of(k1, k2), payload_type=PT, threshold=2, file=FILE)


@pytest.mark.parametrize("keyid", ["", "some-other-tools-id", "WRONG"])
def test_keyid_is_only_a_hint(keys: Keys, keyid: str) -> None:
    k1, k2 = keys["ed25519"][0], keys["ecdsa-p384"][0]
    env = sign_envelope(PAYLOAD, PT, [k1, k2])
    relabelled = env.model_copy(update={"signatures": [
        EnvelopeSignature(keyid=keyid, sig=env.signatures[0].sig),
        # k2's signature labelled with k1's keyid: wrong hint, still found by trying keys
        EnvelopeSignature(keyid=key_id(k1), sig=env.signatures[1].sig),
    ]})
    out = verify_envelope(relabelled, trust_of(k1, k2), payload_type=PT, threshold=2, file=FILE)
    assert set(out.signers) == {key_id(k1), key_id(k2)}


def test_threshold_must_be_positive(keys: Keys) -> None:
    env = sign_envelope(PAYLOAD, PT, [keys["ed25519"][0]])
    with pytest.raises(ConfigError):
        verify_envelope(env, trust_of(keys["ed25519"][0]), payload_type=PT, threshold=0, file=FILE)


# --- strict parsing --------------------------------------------------------------------------

GOOD = {"payload": base64.b64encode(PAYLOAD).decode(), "payloadType": PT,
        "signatures": [{"keyid": "k", "sig": base64.b64encode(b"s" * 64).decode()}]}


def doc(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (doc(payload="not base64!"), "payload", "not valid standard base64"),
        (doc(payload=base64.urlsafe_b64encode(b"\xfb\xff").decode()), "payload",
         "not valid standard base64"),
        (doc(payload="QR=="), "payload", "not canonical"),
        (doc(payload=base64.b64encode(PAYLOAD).decode().rstrip("=")[:-1]), "payload", "base64"),
        (doc(signatures=[{"keyid": "k", "sig": "%%%"}]), "signatures[0].sig",
         "not valid standard base64"),
        (doc(signatures=[{"keyid": "k", "sig": "AAAA"}, {"keyid": 5, "sig": "AAAA"}]),
         "signatures[1].keyid", "string"),
        (doc(signatures=[{"keyid": "k"}]), "signatures[0].sig", "Field required"),
        (doc(signatures=[{"keyid": "k", "sig": "AAAA", "extra": 1}]), "signatures[0].extra",
         "Extra inputs are not permitted"),
        (doc(payloadType=""), "payloadType", "at least 1 character"),
        (doc(payloadType=7), "payloadType", "string"),
        (doc(signatures={}), "signatures", "list"),
        (doc(signatures=[{"keyid": "", "sig": "AAAA"}] * 33), "signatures", "at most 32"),
        (doc(unexpected=True), "unexpected", "Extra inputs are not permitted"),
    ],
)
def test_parse_errors_name_the_field(data: bytes, field: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_envelope(data, file=FILE)
    assert exc.value.file == FILE
    assert exc.value.field == field
    assert message in exc.value.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"payload": "AA==", "payload": "AA==", "payloadType": "t", "signatures": []}',
         "duplicate key 'payload'"),
        (b'{"payload": NaN}', "NaN is not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b"", "document is empty"),
        (b"{" + b" " * (1024 * 1024) + b"}", "over the 1048576-byte limit"),
        (b"\xff{}", "not valid UTF-8"),
    ],
)
def test_parse_rejects_non_strict_json(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as exc:
        parse_envelope(data, file=FILE)
    assert exc.value.file == FILE


def test_missing_keyid_is_allowed_and_means_empty() -> None:
    data = json.dumps({"payload": "AA==", "payloadType": "t",
                       "signatures": [{"sig": "AAAA"}]}).encode()
    assert parse_envelope(data, file=FILE).signatures[0].keyid == ""


def test_sign_envelope_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        sign_envelope(PAYLOAD, PT, [])
