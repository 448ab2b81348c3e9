"""Interoperability with securesystemslib's DSSE implementation, both directions.

securesystemslib key ids are its own (canonical-JSON based), so envelopes it signs carry keyids
our store does not know: they verify because keyids are only hints. For the other direction we
build its Key objects with our key id, since its verifier matches signatures by keyid.
RSA: securesystemslib signs RSASSA-PSS-SHA256 with salt = digest length (as we do) and verifies
with salt auto-detection, so RSA envelopes interoperate in both directions.
"""

from __future__ import annotations

import json

import pytest
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, SSlibKey

from webhook.errors import SignatureError
from webhook.integrity import (
    PrivateKey,
    TrustStore,
    envelope_json,
    key_id,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)

PT = "application/vnd.in-toto+json"
PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1","subject":[]}'
ALGS = ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-pss"]
Keys = dict[str, list[PrivateKey]]


@pytest.mark.parametrize("alg", ALGS)
def test_theirs_verifies_in_ours(keys: Keys, alg: str) -> None:
    key = keys[alg][0]
    signer = CryptoSigner(key)
    env = SslibEnvelope(PAYLOAD, PT, {})
    env.sign(signer)
    data = json.dumps(env.to_dict()).encode()
    ours = parse_envelope(data, file="snapshot.dsse.json")
    assert ours.signatures[0].keyid == signer.public_key.keyid != key_id(key)
    out = verify_envelope(ours, TrustStore([key.public_key()]), payload_type=PT,
                          file="snapshot.dsse.json")
    assert out.payload == PAYLOAD and out.signers == (key_id(key),)
    # and their signature does not verify for a different trusted key
    with pytest.raises(SignatureError, match="no trusted key signed"):
        verify_envelope(ours, TrustStore([keys[alg][1].public_key()]), payload_type=PT,
                        file="snapshot.dsse.json")


@pytest.mark.parametrize("alg", ALGS)
def test_ours_verifies_in_theirs(keys: Keys, alg: str) -> None:
    key = keys[alg][0]
    raw = envelope_json(sign_envelope(PAYLOAD, PT, [key]))
    env = SslibEnvelope.from_dict(json.loads(raw))
    theirs = SSlibKey.from_crypto(key.public_key(), keyid=key_id(key))
    accepted = env.verify([theirs], 1)
    assert list(accepted) == [key_id(key)]
    assert env.payload == PAYLOAD
    tampered = SslibEnvelope(PAYLOAD + b" ", PT, env.signatures)
    with pytest.raises(VerificationError):
        tampered.verify([theirs], 1)
