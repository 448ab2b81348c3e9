"""Integrity checks (T1 and T2): a signature where one is required, and no outdated hashing.

These are the only built-in checks that may carry severity "critical" (alerts page on it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from webhook.policies.context import PolicyContext
from webhook.policies.registry import Param, Violation, register

STRONG_HASHES = ("sha256", "sha384", "sha512")
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
            "bool", False, doc="require a signature even when no trust store is configured"
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
    """A signature must be present when a trust store is configured, or always if asked.

    Whether a present signature verifies is the pipeline's always-blocking signature-invalid
    reason; this check only decides whether its absence is acceptable.
    """
    facts = ctx.signature
    if facts.present:
        return
    always = params.get("require_always", False) is True
    if not (always or facts.trust_configured):
        return
    why = "a trust store is configured" if facts.trust_configured else "require_always is set"
    yield Violation(
        "signature",
        f"{ctx.effective_env} requires {_EXPECTED[ctx.scenario]} verified against the trust "
        f"store because {why} (found no signature)",
    )


@register("weak-hash-forbidden", scenarios=("T1", "T2"), reads="hashes", integrity=True)
def weak_hash_forbidden(ctx: PolicyContext, params: Mapping[str, Any]) -> Iterator[Violation]:
    """Every declared digest must be sha256/sha384/sha512 with its algorithm prefix."""
    for where, algorithm in ctx.hashes.items():
        name = algorithm.strip().lower() if isinstance(algorithm, str) else ""
        if name in STRONG_HASHES:
            continue
        shown = "an unprefixed digest" if name == "unprefixed" else (name or "an unknown algorithm")
        yield Violation(
            where, f"outdated hashing: found {shown}, expected sha256/sha384/sha512 with prefix"
        )
