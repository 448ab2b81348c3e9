"""DSSE v1 envelopes: parse strictly, sign, and verify against a trust store with a threshold.

Signatures cover PAE(payloadType, payload) over the exact payload bytes, never re-serialised JSON.
The `keyid` of a signature is an unauthenticated hint: it selects the trusted key to try first,
and an empty or unknown keyid makes us try every trusted key (bounded by the store size), so
envelopes from tools with other key-id schemes (securesystemslib) still verify.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
)

from webhook.contracts.limits import ParseLimits
from webhook.contracts.strict import load_json
from webhook.errors import ConfigError, InputError, SignatureError
from webhook.integrity.keys import PrivateKey, key_id, sign_raw, verify_raw
from webhook.integrity.trust import TrustStore

MAX_ENVELOPE_BYTES: Final = 1024 * 1024
#: more signatures than this is not a real envelope, and each one may cost a verify per key
MAX_SIGNATURES: Final = 32
_LIMITS: Final = ParseLimits(max_bytes=MAX_ENVELOPE_BYTES, max_depth=8)


def _b64decode(value: object) -> bytes:
    """Standard base64, padded and canonical (re-encoding gives the same text)."""
    if isinstance(value, bytes):  # constructed in Python, already decoded
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a base64 string, got {type(value).__name__}")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("not valid standard base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise ValueError("base64 is not canonical (padding or trailing bits)")
    return raw


def _b64encode(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


B64Bytes = Annotated[bytes, BeforeValidator(_b64decode), PlainSerializer(_b64encode)]


class EnvelopeSignature(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    keyid: str = Field(default="", max_length=256)
    sig: B64Bytes = Field(max_length=2048)


class Envelope(BaseModel):
    """A DSSE envelope; `payload` and `sig` hold decoded bytes, JSON carries base64."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    payloadType: str = Field(min_length=1, max_length=256)
    payload: B64Bytes
    signatures: list[EnvelopeSignature] = Field(max_length=MAX_SIGNATURES)


@dataclass(frozen=True)
class VerifiedPayload:
    """The payload bytes and the distinct trusted key ids that signed them."""

    payload: bytes
    signers: tuple[str, ...]


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_envelope(data: bytes, *, file: str) -> Envelope:
    """Strict JSON (no duplicate keys, no NaN, <= 1 MiB) into an Envelope; InputError otherwise."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise InputError(
            f"envelope is {len(data)} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit", file=file
        )
    obj: Any = load_json(data, source=file, limits=_LIMITS)
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}", file=file)
    try:
        return Envelope.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise InputError(msg + more, file=file, field=_loc(tuple(err["loc"])) or None) from None


def sign_envelope(payload: bytes, payload_type: str, keys: Sequence[PrivateKey]) -> Envelope:
    """Envelope with one signature per key (keyid = our `key_id`)."""
    if not keys:
        raise ValueError("sign_envelope needs at least one key")
    message = pae(payload_type, payload)
    sigs = [EnvelopeSignature(keyid=key_id(k), sig=sign_raw(k, message)) for k in keys]
    return Envelope(payloadType=payload_type, payload=payload, signatures=sigs)


def envelope_json(env: Envelope) -> bytes:
    """Compact JSON with sorted keys (deterministic bytes for the same envelope)."""
    return json.dumps(env.model_dump(mode="json"), sort_keys=True, separators=(",", ":")).encode()


def verify_envelope(
    env: Envelope,
    trust: TrustStore,
    *,
    payload_type: str,
    threshold: int = 1,
    file: str,
) -> VerifiedPayload:
    """Return the payload iff >= `threshold` distinct trusted keys signed it; else SignatureError.

    The message says exactly why: wrong payloadType, no signatures, no trusted key signed (with
    the keyids seen), a trusted key's signature is invalid, or the threshold was not met (n of m).
    """
    _check_envelope(env, trust, payload_type=payload_type, threshold=threshold, file=file)
    message = pae(env.payloadType, env.payload)
    signers: dict[str, None] = {}
    invalid: list[str] = []
    for i, sig in enumerate(env.signatures):
        kid = _signer(sig, trust, signers, message)
        if kid is not None:
            signers.setdefault(kid)
        elif sig.keyid in trust:
            invalid.append(f"signatures[{i}] is invalid for trusted key {sig.keyid}")
    if len(signers) >= threshold:
        return VerifiedPayload(payload=env.payload, signers=tuple(signers))
    raise SignatureError(
        _refusal(env, trust, signers, invalid, threshold), file=file, field="signatures"
    )


def _check_envelope(
    env: Envelope, trust: TrustStore, *, payload_type: str, threshold: int, file: str
) -> None:
    """What makes verification pointless: a bad threshold, payloadType, no signature or key."""
    if threshold < 1:
        raise ConfigError(f"signature threshold must be at least 1, got {threshold}")
    if env.payloadType != payload_type:
        raise SignatureError(
            f"payloadType is {env.payloadType!r}, expected {payload_type!r}",
            file=file,
            field="payloadType",
        )
    if not env.signatures:
        raise SignatureError("envelope has no signatures", file=file, field="signatures")
    if len(trust) == 0:
        raise SignatureError(
            "the trust store is empty, so no signature can be trusted",
            file=file,
            field="signatures",
        )


def _signer(
    sig: EnvelopeSignature, trust: TrustStore, signers: Mapping[str, None], message: bytes
) -> str | None:
    """The trusted key that made `sig`, or None.

    The hinted key first, then (keyid empty, unknown or wrong) every other trusted key not
    already counted: at most len(trust) attempts per signature.
    """
    hinted = trust.get(sig.keyid)
    candidates = [(sig.keyid, hinted)] if hinted is not None else []
    candidates += [(k, v) for k, v in trust.items() if k != sig.keyid and k not in signers]
    for kid, key in candidates:
        try:
            verify_raw(key, sig.sig, message)
        except SignatureError:
            continue
        return kid
    return None


def _refusal(
    env: Envelope,
    trust: TrustStore,
    signers: Mapping[str, None],
    invalid: list[str],
    threshold: int,
) -> str:
    """Why too few trusted keys signed: the invalid signatures, the keyids seen, or n of m."""
    seen = ", ".join(repr(s.keyid) if s.keyid else "''" for s in env.signatures)
    if invalid:
        detail = "; ".join(invalid)
    elif not signers:
        detail = f"no trusted key signed this envelope (signature keyids: {seen})"
    else:
        detail = ""
    need = (
        f"{threshold} distinct trusted keys must sign, {len(signers)} did"
        f" (of {len(env.signatures)} signatures, {len(trust)} trusted keys)"
    )
    if threshold == 1:
        return detail or need
    return f"{need}: {detail}" if detail else need
