"""Integrity checks (T1 and T2): a signature where one is required, and no outdated hashing.

These are the only built-in checks that may carry severity "critical" (alerts page on it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from webhook.contracts.digests import STRONG
from webhook.policies.context import PolicyContext
from webhook.policies.registry import Param, Violation, register

_EXPECTED = {
    "T1": "a DSSE signature over migration_manifest.json (migration_manifest.dsse.json)",
    "T2": "a signed in-toto attestation of the snapshot (snapshot.dsse.json)",
}


@register(
    "signature-required",
    scenarios=("T1", "T2"),
    reads="signature",
    integrity=True,
    params={
        "require_always": Param(
            "bool",
            False,
            doc="staging: require a signature even when no trust store is configured "
            "(prod always requires one)",
        ),
        "threshold": Param(
            "int",
            1,
            doc="distinct trusted keys that must sign (read by the pipeline's verifier)",
            minimum=1,
            per_env=False,
        ),
    },
)
def signature_required(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """Prod always requires a signature; staging when a trust store is configured or if asked.

    Whether a present signature verifies is the pipeline's always-blocking signature-invalid
    reason (and an empty trust store in prod is its trust-store-empty reason); this check only
    decides whether the absence of a signature is acceptable.
    """
    facts = ctx.signature
    if facts.present:
        return
    env = ctx.effective_env
    always = params.get("require_always", False) is True
    if env == "prod":
        why = "prod always requires one"
    elif facts.trust_configured:
        why = "a trust store is configured"
    elif always:
        why = "require_always is set"
    else:
        return
    yield Violation(
        "signature",
        f"{env} requires {_EXPECTED[ctx.scenario]} verified against the trust "
        f"store because {why} (found no signature)",
    )


@register("weak-hash-forbidden", scenarios=("T1", "T2"), reads="hashes", integrity=True)
def weak_hash_forbidden(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """Every declared digest must be sha256/sha384/sha512 with its algorithm prefix."""
    for where, algorithm in ctx.hashes.items():
        name = algorithm.strip().lower() if isinstance(algorithm, str) else ""
        if name in STRONG:
            continue
        shown = "an unprefixed digest" if name == "unprefixed" else (name or "an unknown algorithm")
        yield Violation(
            where, f"outdated hashing: found {shown}, expected sha256/sha384/sha512 with prefix"
        )
