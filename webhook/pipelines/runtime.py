"""What every pipeline run reads from its Engine: fixed for the Engine's lifetime.

One object instead of four arguments, and the one place where inputs are parsed through the
cache, envelopes verified against the trust store, and signature facts built for policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webhook.contracts.strict import load_json, load_yaml
from webhook.integrity import Envelope, TrustStore, VerifiedPayload
from webhook.pipelines.cache import InputCache
from webhook.policies import PolicyBundle, SignatureFacts


@dataclass(frozen=True)
class Runtime:
    bundle: PolicyBundle
    trust: TrustStore
    #: distinct trusted signers required (the signature-required policy's `threshold`)
    threshold: int
    cache: InputCache

    def json(self, data: bytes, file: str) -> Any:
        return self.cache.parsed("json", data, lambda b: load_json(b, source=file))

    def yaml(self, data: bytes, file: str) -> Any:
        return self.cache.parsed("yaml", data, lambda b: load_yaml(b, source=file))

    def verify(
        self, raw: bytes, envelope: Envelope, *, payload_type: str, file: str
    ) -> VerifiedPayload:
        """Verify against the trust store and threshold; raises SignatureError."""
        return self.cache.verified(
            raw,
            envelope,
            self.trust,
            payload_type=payload_type,
            threshold=self.threshold,
            file=file,
        )

    def signature(self, *, present: bool, signers: Sequence[str] | None = None) -> SignatureFacts:
        """Facts for the signature-required policy; `signers` given means it verified."""
        return SignatureFacts(
            present=present,
            verified=signers is not None,
            trust_configured=len(self.trust) > 0,
            signers=tuple(signers or ()),
        )
