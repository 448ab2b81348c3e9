"""Integrity: digests, streaming tar.gz inspection, DSSE signatures, keys and the trust store.

Package rule: pure functions over the bytes and files handed in. No network, no global state, no
environment reads; nothing is extracted to disk. All cryptography goes through `cryptography`
(hashlib only for digests). Offer safe recipes ("verify this envelope against this trust store",
"inspect this archive"), not loose primitives; verifiers raise `webhook.errors` exceptions instead
of returning a bool that can be ignored. Imports only `webhook.errors` and `webhook.contracts`.
"""

from typing import TYPE_CHECKING, Any

from webhook.integrity.dsse import (
    Envelope,
    EnvelopeSignature,
    VerifiedPayload,
    envelope_json,
    pae,
    parse_envelope,
    sign_envelope,
    verify_envelope,
)
from webhook.integrity.hashing import (
    STRONG,
    Digest,
    MultiHasher,
    digests_equal,
    hash_bytes,
    hash_file,
    parse_digest,
)
from webhook.integrity.keys import (
    KEY_ALGORITHMS,
    KeyAlgorithm,
    PrivateKey,
    PublicKey,
    generate_private_key,
    key_algorithm,
    key_id,
    load_private_key_pem,
    load_public_key_pem,
    private_key_pem,
    public_key_pem,
)
from webhook.integrity.trust import TrustStore

if TYPE_CHECKING:
    from webhook.integrity.archive import (
        ArchiveCheck,
        ArchiveFinding,
        ArchiveLimits,
        ArchiveReport,
        inspect_targz,
    )

#: the archive inspector's names, loaded on first use (`__getattr__`): only a replication
#: inspects a tar.gz, so a process deciding migrations (the CLI's `validate migration`) skips it
_ARCHIVE = frozenset(
    {"ArchiveCheck", "ArchiveFinding", "ArchiveLimits", "ArchiveReport", "inspect_targz"}
)


def _archive_name(name: str) -> Any:
    """`from webhook.integrity import inspect_targz` imports the archive package then."""
    if name not in _ARCHIVE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from webhook.integrity import archive  # noqa: PLC0415

    value = getattr(archive, name)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value


if not TYPE_CHECKING:  # PEP 562, at run time only: mypy reads the names imported above, so a
    # misspelt name stays a type error instead of an Any from a module `__getattr__`
    __getattr__ = _archive_name


__all__ = [
    "KEY_ALGORITHMS",
    "STRONG",
    "ArchiveCheck",
    "ArchiveFinding",
    "ArchiveLimits",
    "ArchiveReport",
    "Digest",
    "Envelope",
    "EnvelopeSignature",
    "KeyAlgorithm",
    "MultiHasher",
    "PrivateKey",
    "PublicKey",
    "TrustStore",
    "VerifiedPayload",
    "digests_equal",
    "envelope_json",
    "generate_private_key",
    "hash_bytes",
    "hash_file",
    "inspect_targz",
    "key_algorithm",
    "key_id",
    "load_private_key_pem",
    "load_public_key_pem",
    "pae",
    "parse_digest",
    "parse_envelope",
    "private_key_pem",
    "public_key_pem",
    "sign_envelope",
    "verify_envelope",
]
