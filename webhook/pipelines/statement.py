"""The checks on a verified T2 in-toto statement, each a pure function of what it compares.

In admission the statement is the only integrity proof: it binds the snapshot and WAL digests,
the replication's identity and its env to a trusted signer. Every function returns the reasons
it finds (nothing raises on a hostile statement), so each rule is tested on its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from webhook.contracts.decision import Reason
from webhook.contracts.digests import ALGORITHM_BY_LENGTH
from webhook.contracts.env import Env
from webhook.contracts.models import (
    InTotoStatement,
    ReplicationManifest,
    ReplicationPredicate,
    ResourceDescriptor,
)
from webhook.contracts.reasons import builtin_reason
from webhook.contracts.strict import load_json
from webhook.errors import InputError
from webhook.integrity import STRONG, Digest, digests_equal, parse_envelope
from webhook.pipelines.claims import env_claim
from webhook.pipelines.inputs import ATTESTATION_FILE, SNAPSHOT_FILE, WAL_DIR

#: the replication's identity: each must be signed exactly as the manifest declares it
IDENTITY_FIELDS = ("source_db", "target_db", "sync_mode")

Subjects = Mapping[str, Mapping[str, str]]


def hex_algorithm(digest: Digest) -> str:
    """The hashlib name of a digest; a bare hex string is named by its length."""
    if digest.prefixed:
        return digest.algorithm
    return ALGORITHM_BY_LENGTH.get(len(digest.hex), "unknown")


def mismatch(message: str, field: str) -> Reason:
    return builtin_reason(
        "attestation-mismatch", message, field=field, file=ATTESTATION_FILE, severity="critical"
    )


def parse_time(value: str, *, field: str) -> tuple[datetime | None, list[Reason]]:
    """An RFC 3339 timestamp with a timezone, or None and the reason it is not one."""
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        why = f"not an RFC 3339 timestamp (found {value[:64]!r})"
    else:
        if ts.tzinfo is not None:
            return ts, []
        why = f"timestamp has no timezone (found {value[:64]!r})"
    return None, [builtin_reason("input-invalid", why, field=field, file=ATTESTATION_FILE)]


def check_validity(predicate: ReplicationPredicate, now: datetime) -> list[Reason]:
    """The statement is in force at `now`: created in the past, not yet expired."""
    expires, out = parse_time(predicate.expires, field="predicate.expires")
    created, bad = parse_time(predicate.created, field="predicate.created")
    out += bad
    if expires is not None and expires <= now:
        out.append(
            builtin_reason(
                "signature-invalid",
                f"the signed statement expired at {predicate.expires}",
                field="predicate.expires",
                file=ATTESTATION_FILE,
                severity="critical",
            )
        )
    if created is not None and created > now:
        out.append(
            mismatch(
                f"the statement claims to be created in the future ({predicate.created})",
                "predicate.created",
            )
        )
    if created is not None and expires is not None and expires <= created:
        out.append(
            mismatch(
                f"the statement expires ({predicate.expires}) before it was created "
                f"({predicate.created})",
                "predicate.expires",
            )
        )
    return out


def check_identity(
    predicate: ReplicationPredicate, manifest: ReplicationManifest | None
) -> list[Reason]:
    """source_db, target_db and sync_mode are signed as the manifest declares them."""
    if manifest is None:
        return []  # the manifest's own schema reasons already BLOCK
    out: list[Reason] = []
    for key in IDENTITY_FIELDS:
        signed, declared = getattr(predicate, key), getattr(manifest, key)
        if signed != declared:
            out.append(
                mismatch(
                    f"signed {key} is {signed!r} but the manifest says {declared!r}",
                    f"predicate.{key}",
                )
            )
    return out


def check_env(predicate: ReplicationPredicate, door: Env) -> list[Reason]:
    """The signed env is the door's: a prod statement cannot be replayed through staging."""
    return env_claim(predicate.env, door=door, file=ATTESTATION_FILE, field="predicate.env")


def subject_map(
    subject: Sequence[ResourceDescriptor],
) -> tuple[dict[str, Mapping[str, str]], list[Reason]]:
    """Subjects by name; a name listed twice is ambiguous (which digest counts?) and BLOCKs."""
    out: dict[str, Mapping[str, str]] = {}
    reasons: list[Reason] = []
    for i, item in enumerate(subject):
        if item.name in out:
            reasons.append(
                mismatch(f"subject {item.name!r} is listed more than once", f"subject[{i}].name")
            )
            continue
        out[item.name] = item.digest
    return out, reasons


def check_snapshot_subject(
    subjects: Subjects, *, expected: Digest | None, actual_sha256: str | None
) -> list[Reason]:
    """The signed snapshot digest equals the manifest's expected hash and the file's own."""
    snap = subjects.get(SNAPSHOT_FILE)
    if snap is None:
        return [mismatch(f"the statement has no subject named {SNAPSHOT_FILE}", "subject")]
    out: list[Reason] = []
    if expected is not None and hex_algorithm(expected) in STRONG:
        algo = hex_algorithm(expected)
        signed = snap.get(algo)
        if signed is None or not digests_equal(signed, expected.hex):
            out.append(
                mismatch(
                    f"signed {SNAPSHOT_FILE} {algo} is {signed or 'absent'}, the manifest "
                    f"expects {expected.hex}",
                    "subject",
                )
            )
    signed256 = snap.get("sha256")
    if actual_sha256 is not None and (
        signed256 is None or not digests_equal(signed256, actual_sha256)
    ):
        out.append(
            mismatch(
                f"signed {SNAPSHOT_FILE} sha256 is {signed256 or 'absent'}, the file's is "
                f"{actual_sha256}",
                "subject",
            )
        )
    return out


def check_wal_subjects(
    subjects: Subjects, declared: Mapping[str, str], unverified: Collection[str] = ()
) -> list[Reason]:
    """Signed WAL segments and listed ones are the same set with the same sha256 digests.

    `unverified` segments are listed with a digest that cannot be compared (malformed, or
    md5/sha1): the manifest's own reasons BLOCK them; they are not reported as a mismatch.
    """
    prefix = WAL_DIR + "/"
    signed_wal = {n.removeprefix(prefix): d for n, d in subjects.items() if n.startswith(prefix)}
    out: list[Reason] = []
    for name in sorted((set(declared) | set(signed_wal)) - set(unverified)):
        listed = declared.get(name)
        signed = signed_wal.get(name, {}).get("sha256")
        if listed is None:
            out.append(
                mismatch(f"signed WAL segment {name} is not listed in the manifest", "subject")
            )
        elif signed is None:
            out.append(
                mismatch(f"WAL segment {name} is listed in the manifest but not signed", "subject")
            )
        elif not digests_equal(signed, listed):
            out.append(
                mismatch(
                    f"signed WAL segment {name} sha256 is {signed}, the manifest expects {listed}",
                    "subject",
                )
            )
    return out


def check_statement(
    statement: InTotoStatement,
    *,
    now: datetime,
    door: Env,
    manifest: ReplicationManifest | None,
    expected: Digest | None,
    snapshot_sha256: str | None,
    wal_declared: Mapping[str, str],
    wal_unverified: Collection[str] = (),
) -> list[Reason]:
    """Every rule above, in report order."""
    pred = statement.predicate
    subjects, duplicates = subject_map(statement.subject)
    out = check_validity(pred, now) + check_env(pred, door) + check_identity(pred, manifest)
    out += duplicates
    out += check_snapshot_subject(subjects, expected=expected, actual_sha256=snapshot_sha256)
    out += check_wal_subjects(subjects, wal_declared, wal_unverified)
    return out


def statement_expires(attestation: bytes) -> datetime | None:
    """`predicate.expires` of an attestation's statement, read WITHOUT verifying it.

    For caches only, to end a cached decision's life when its statement expires: an unverified
    date can only matter for a decision that did not verify (a BLOCK), and an ALLOW's came from
    a verified statement. None when there is no readable, timezone-aware expiry.
    """
    try:
        envelope = parse_envelope(attestation, file=ATTESTATION_FILE)
        doc = load_json(envelope.payload, source=ATTESTATION_FILE)
    except (InputError, ValueError):
        return None
    predicate = doc.get("predicate") if isinstance(doc, dict) else None
    expires = predicate.get("expires") if isinstance(predicate, dict) else None
    if not isinstance(expires, str):
        return None
    ts, _ = parse_time(expires, field="predicate.expires")
    return ts
