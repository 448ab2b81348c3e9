"""Reason ids the gate emits itself: never configurable by a bundle, one table for every raiser.

One table so the policy bundle can refuse to reuse an id, `policy show` can list them, and
alerting knows which are integrity failures (severity critical). Every raiser builds its reason
with `builtin_reason()` (or raises a GateError whose `policy` is listed here); a unit test scans
the package so an id used anywhere but missing here fails the build. All of them BLOCK, except
`snapshot-not-hashed`, which the admission door only ever adds as a warning.
"""

from __future__ import annotations

from typing import Final

from webhook.contracts.decision import Reason, Severity

BUILTIN_REASONS: Final[dict[str, str]] = {
    "input-missing": "a required artifact was not provided",
    "input-invalid": "an artifact is unreadable, oversized, malformed or breaks its schema",
    "config-identity-mismatch": "app-config.yaml names another app_id than the manifest",
    "env-mismatch": "an artifact claims another env than the door it came through",
    "trust-store-empty": "prod needs trusted keys to verify signatures and none are configured",
    "config-hash-mismatch": "app-config.yaml bytes do not match the manifest's config_sha256",
    "snapshot-hash-mismatch": "the snapshot does not match expected_snapshot_hash",
    "snapshot-hash-unverifiable": "expected_snapshot_hash uses an algorithm never computed",
    "snapshot-not-hashed": "a file:// snapshot could not be hashed; the attestation is the proof",
    "archive-invalid": "the snapshot is not a complete, valid tar.gz",
    "archive-path-traversal": "a snapshot member has an absolute or '..' path",
    "archive-link-escape": "a snapshot link points outside the archive root",
    "archive-special-member": "a snapshot member is a device file or FIFO",
    "archive-bomb": "the snapshot exceeds the member-count or expansion limits",
    "archive-checksum-mismatch": "a snapshot member does not match its SHA256SUMS entry",
    "archive-member-reused": "a snapshot member path occurs more than once",
    "wal-integrity": "WAL files missing, unlisted, duplicated, out of order or altered",
    "signature-invalid": "a signature is untrusted, wrong, expired or over other content",
    "attestation-mismatch": "the signed attestation disagrees with the manifest or the files",
    "integrity": "bytes failed an integrity check",
    "internal-error": "the gate failed while deciding (fail closed)",
    "deadline-exceeded": "the decision took longer than its deadline (fail closed)",
    "audit-write-failed": "the decision could not be recorded in the audit store (fail closed)",
    "audit-reasons-omitted": "an audit record's summary of the reasons past its cap (counted)",
    "audit-unreadable": "the audit store or an export cannot be read",
    "alert-not-found": "an alert id that does not exist",
    "gate-config-invalid": "the gate's own policy bundle or trust store is unusable",
}


def builtin_reason(
    policy: str,
    message: str,
    *,
    field: str = "",
    file: str | None = None,
    severity: Severity = "high",
) -> Reason:
    """A blocking reason under a registered id; an unregistered id is a bug and raises.

    Raised inside a pipeline step, that ValueError still becomes a BLOCK (internal-error).
    """
    if policy not in BUILTIN_REASONS:
        raise ValueError(f"reason id {policy!r} is not registered in webhook/contracts/reasons.py")
    return Reason(policy=policy, severity=severity, field=field, message=message, file=file)
