"""T2, replication integrity: manifest -> snapshot -> checksums -> compare -> policies.

The snapshot is streamed once (whole-file digest and archive guards in the same pass). WAL files
must match the manifest's list exactly. An attestation (in-toto statement in DSSE) binds the
snapshot and WAL digests to a trusted signer; in admission mode it is the only integrity proof.

Each step's logic is a module-level pure function returning its reasons (tested on its own);
`run_replication` only wires them to the Report in order (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from webhook.contracts.decision import Reason
from webhook.contracts.digests import digest_forms
from webhook.contracts.models import (
    INTOTO_PAYLOAD_TYPE,
    InTotoStatement,
    ReplicationManifest,
    validate,
)
from webhook.contracts.reasons import builtin_reason
from webhook.contracts.strict import load_json
from webhook.errors import InputError
from webhook.integrity import (
    STRONG,
    ArchiveFinding,
    ArchiveReport,
    Digest,
    Envelope,
    digests_equal,
    hash_bytes,
    hash_file,
    inspect_targz,
    parse_digest,
    parse_envelope,
)
from webhook.pipelines.claims import env_field, trust_configured
from webhook.pipelines.inputs import (
    ATTESTATION_FILE,
    REPLICATION_FILE,
    SNAPSHOT_FILE,
    WAL_DIR,
    ReplicationInputs,
)
from webhook.pipelines.report import Report, error_reason
from webhook.pipelines.runtime import Runtime
from webhook.pipelines.statement import check_statement, hex_algorithm
from webhook.policies import PolicyContext, SignatureFacts, evaluate

#: manifest fields copied into the decision's subject (the env is the door's)
SUBJECT_FIELDS = ("source_db", "target_db", "sync_mode")


def wal_label(name: str) -> str:
    return f"{WAL_DIR}/{name}"


def _wal_block(message: str, *, field: str, file: str) -> Reason:
    return builtin_reason("wal-integrity", message, field=field, file=file, severity="critical")


def _hash_label(digest: Digest) -> str:
    """What the weak-hash policy sees for a declared digest."""
    return digest.algorithm if digest.prefixed else "unprefixed"


# ---- schema step ----


def expected_digest(value: object) -> tuple[Digest | None, list[Reason]]:
    """expected_snapshot_hash parsed strictly; a non-string is the schema's finding."""
    if not isinstance(value, str):
        return None, []
    try:
        return parse_digest(value, file=REPLICATION_FILE, field="expected_snapshot_hash"), []
    except InputError as exc:
        return None, [error_reason(exc)]


@dataclass(frozen=True)
class WalList:
    """The manifest's WAL list as the later steps read it."""

    #: name -> sha256 hex (first occurrence of each name), for digests that can be verified
    declared: dict[str, str] = field(default_factory=dict)
    #: "wal_files[i].sha256" -> declared algorithm, for the weak-hash policy
    hashes: dict[str, str] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)
    #: listed names whose digest cannot be compared: name -> (field, algorithm); algorithm ""
    #: for a malformed digest (its input-invalid reason is in `reasons`), else md5/sha1
    unverified: dict[str, tuple[str, str]] = field(default_factory=dict)


def check_wal_list(wal_list: Iterable[Any]) -> WalList:
    """Names listed once each, in strictly increasing order, with parseable digests.

    Malformed entries (not a mapping, non-string fields) are the schema step's reasons. A
    malformed digest is an input-invalid reason (a format mistake): its segment still counts
    as listed, so the file is never reported as unlisted or altered because of a typo.
    """
    out = WalList()
    previous: str | None = None
    for i, item in enumerate(wal_list):
        if not isinstance(item, Mapping):
            continue
        name, value = item.get("name"), item.get("sha256")
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        where = f"wal_files[{i}]"
        digest: Digest | None
        try:
            # the field is named sha256: the bare 64 hex is a SHA-256 digest too
            digest = parse_digest(
                value, file=REPLICATION_FILE, field=f"{where}.sha256", algorithm="sha256"
            )
        except InputError as exc:
            out.reasons.append(error_reason(exc))
            digest = None
        if digest is not None:
            out.hashes[f"{where}.sha256"] = _hash_label(digest)
        if name in out.declared or name in out.unverified:
            out.reasons.append(
                _wal_block(
                    f"WAL segment {name} is listed twice",
                    field=f"{where}.name",
                    file=REPLICATION_FILE,
                )
            )
            continue
        if previous is not None and name <= previous:
            out.reasons.append(
                _wal_block(
                    f"WAL segment {name} is out of order: it must come after {previous} "
                    "(names strictly increasing)",
                    field=f"{where}.name",
                    file=REPLICATION_FILE,
                )
            )
        previous = max(previous or name, name)
        if digest is None or digest.is_weak:
            out.unverified[name] = (f"{where}.sha256", digest.algorithm if digest else "")
        else:
            out.declared[name] = digest.hex
    return out


# ---- inspect and compare steps ----


def snapshot_algorithms(expected: Digest | None) -> tuple[str, ...]:
    """sha256 always (the decision's digest), plus the manifest's algorithm when strong."""
    algorithms = ["sha256"]
    if expected is not None:
        algo = hex_algorithm(expected)
        if algo in STRONG and algo not in algorithms:
            algorithms.append(algo)
    return tuple(algorithms)


def archive_reasons(findings: Iterable[ArchiveFinding]) -> list[Reason]:
    """Each hostile-archive finding as a critical reason naming the member."""
    out: list[Reason] = []
    for finding in findings:
        member = f" (member {finding.member!r})" if finding.member else ""
        out.append(
            builtin_reason(
                finding.check,
                finding.message + member,
                field=finding.member or "",
                file=SNAPSHOT_FILE,
                severity="critical",
            )
        )
    return out


def archive_variable(result: ArchiveReport) -> dict[str, Any]:
    """The archive report as CEL's `archive`: counts, finding ids and the file's digests."""
    return {
        "members": result.members,
        "expanded_bytes": result.expanded_bytes,
        "sums_checked": result.sums_checked,
        "findings": [f.check for f in result.findings],
        "digests": dict(result.file_digests),
    }


def compare_snapshot(expected: Digest | None, actual: str | None) -> list[Reason]:
    """The snapshot's digest (in the manifest's algorithm) equals expected_snapshot_hash.

    The gate never computes md5/sha1: such a snapshot is unverified, whatever the weak-hash
    policy's action (fail closed even if an operator turned it off).
    """
    if expected is None:
        return []
    algo = hex_algorithm(expected)
    if algo not in STRONG:
        return [
            builtin_reason(
                "snapshot-hash-unverifiable",
                f"cannot verify the snapshot against a {algo} digest; "
                "expected sha256/sha384/sha512",
                field="expected_snapshot_hash",
                file=REPLICATION_FILE,
                severity="critical",
            )
        ]
    if actual is not None and not digests_equal(expected.hex, actual):
        return [
            builtin_reason(
                "snapshot-hash-mismatch",
                f"snapshot does not match: its {algo} is {actual}, "
                f"the manifest expects {expected.hex}",
                field="expected_snapshot_hash",
                file=REPLICATION_FILE,
                severity="critical",
            )
        ]
    return []


def compare_wal(
    declared: Mapping[str, str],
    actual: Mapping[str, str],
    *,
    all_provided: bool,
    unverified: Mapping[str, tuple[str, str]] | None = None,
) -> list[Reason]:
    """Provided WAL files equal the listed ones, byte for byte.

    `all_provided` is False in admission (attestation-only): a listed segment need not be sent.
    `unverified` segments are listed but their digest cannot be compared: a malformed one is
    already an input-invalid reason; an md5/sha1 one BLOCKs here as unusable input, whatever
    the weak-hash policy's action (the gate never computes those), never as "altered".
    """
    unverified = unverified or {}
    listed = set(declared) | set(unverified)
    out: list[Reason] = []
    for name in sorted(set(actual) - listed):
        out.append(
            _wal_block(
                f"WAL file {name} was provided but is not listed in {REPLICATION_FILE}",
                field="wal_files",
                file=wal_label(name),
            )
        )
    if all_provided:
        for name in sorted(listed - set(actual)):
            out.append(
                _wal_block(
                    f"WAL segment {name} is listed but was not provided",
                    field="wal_files",
                    file=REPLICATION_FILE,
                )
            )
    for name, (where, algorithm) in sorted(unverified.items()):
        if algorithm:
            out.append(
                builtin_reason(
                    "input-invalid",
                    f"cannot verify WAL segment {name} against a {algorithm} digest "
                    f"(outdated hashing); write {digest_forms('sha256')}",
                    field=where,
                    file=REPLICATION_FILE,
                )
            )
    for name in sorted(set(actual) & set(declared)):
        if not digests_equal(declared[name], actual[name]):
            out.append(
                _wal_block(
                    f"WAL file was altered: its SHA-256 is {actual[name]}, "
                    f"the manifest expects {declared[name]}",
                    field="sha256",
                    file=wal_label(name),
                )
            )
    return out


def statement_of(payload: bytes) -> tuple[InTotoStatement | None, list[Reason]]:
    """The verified payload as an in-toto statement, or the schema's reasons against it."""
    statement, problems = validate(InTotoStatement, load_json(payload, source=ATTESTATION_FILE))
    return statement, [
        builtin_reason(
            "attestation-mismatch",
            msg,
            field=f"payload.{fld}",
            file=ATTESTATION_FILE,
            severity="critical",
        )
        for fld, msg in problems
    ]


# ---- the pipeline ----


@dataclass
class _State:
    signature: SignatureFacts
    raw: Any = None
    manifest: ReplicationManifest | None = None
    envelope: Envelope | None = None
    expected: Digest | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    wal: WalList = field(default_factory=WalList)
    snapshot_digest: str | None = None
    snapshot_sha256: str | None = None
    wal_actual: dict[str, str] = field(default_factory=dict)
    #: CEL's `archive` and `statement` variables (docs/policies.md)
    archive: dict[str, Any] | None = None
    statement: dict[str, Any] | None = None


#: one step: reads the inputs and what earlier steps left in the state, records on the report
_Step = Callable[[ReplicationInputs, Report, Runtime, _State], None]


def _parse(inputs: ReplicationInputs, report: Report, rt: Runtime, st: _State) -> None:
    st.raw = report.document(inputs.manifest, file=REPLICATION_FILE, parse=rt.yaml)
    report.check_deadline(f"after parsing {REPLICATION_FILE}")
    if inputs.attestation is not None:
        st.envelope = report.document(
            inputs.attestation, file=ATTESTATION_FILE, parse=parse_envelope, digest=False
        )
    elif not inputs.snapshot_required:
        report.block(
            "input-missing",
            "an attestation is required when the snapshot itself is not provided "
            "(admission verifies signed attestations, not snapshot bytes)",
            file=ATTESTATION_FILE,
        )
    if inputs.snapshot is None and inputs.snapshot_required:
        report.block("input-missing", "file not provided", file=SNAPSHOT_FILE)


def _schema(inputs: ReplicationInputs, report: Report, rt: Runtime, st: _State) -> None:
    if st.raw is None:
        return
    st.manifest, problems = validate(ReplicationManifest, st.raw)
    for fld, msg in problems:
        report.block("input-invalid", msg, field=fld, file=REPLICATION_FILE)
    raw = st.raw if isinstance(st.raw, dict) else {}
    report.subject.update({k: v for k in SUBJECT_FIELDS if isinstance(v := raw.get(k), str)})
    report.extend(env_field(raw, door=report.env, file=REPLICATION_FILE))
    st.expected, bad = expected_digest(raw.get("expected_snapshot_hash"))
    report.extend(bad)
    if st.expected is not None:
        st.hashes["expected_snapshot_hash"] = _hash_label(st.expected)
    wal_list = raw.get("wal_files")
    if isinstance(wal_list, list):
        st.wal = check_wal_list(wal_list)
        st.hashes.update(st.wal.hashes)
        report.extend(st.wal.reasons)


def _inspect(inputs: ReplicationInputs, report: Report, rt: Runtime, st: _State) -> None:
    if inputs.snapshot is None:
        return
    result = inspect_targz(
        inputs.snapshot,
        file_algorithms=snapshot_algorithms(st.expected),
        file=SNAPSHOT_FILE,
        deadline=report.monotonic_deadline(),
    )
    st.snapshot_sha256 = result.file_digests["sha256"]
    report.digests[SNAPSHOT_FILE] = "sha256:" + st.snapshot_sha256
    st.snapshot_digest = result.file_digests.get(
        hex_algorithm(st.expected) if st.expected else "sha256"
    )
    report.extend(archive_reasons(result.findings))
    st.archive = archive_variable(result)


def _checksums(inputs: ReplicationInputs, report: Report, rt: Runtime, st: _State) -> None:
    for name in sorted(inputs.wal_files):
        report.check_deadline(f"before hashing {wal_label(name)}")
        data = inputs.wal_files[name]
        actual = (
            hash_file(data, file=wal_label(name), deadline=report.monotonic_deadline())
            if not isinstance(data, bytes)
            else hash_bytes(data)
        )
        st.wal_actual[name] = actual
        report.digests[wal_label(name)] = "sha256:" + actual


def _compare(inputs: ReplicationInputs, report: Report, rt: Runtime, st: _State) -> None:
    report.extend(compare_snapshot(st.expected, st.snapshot_digest))
    report.extend(
        compare_wal(
            st.wal.declared,
            st.wal_actual,
            all_provided=inputs.snapshot_required,
            unverified=st.wal.unverified,
        )
    )


def _attestation(inputs: ReplicationInputs, report: Report, rt: Runtime, st: _State) -> None:
    report.extend(trust_configured(report.env, len(rt.trust)))
    if st.envelope is None or not inputs.attestation:
        return
    verified = rt.verify(
        inputs.attestation, st.envelope, payload_type=INTOTO_PAYLOAD_TYPE, file=ATTESTATION_FILE
    )
    statement, bad = statement_of(verified.payload)
    report.extend(bad)
    if statement is None:
        return
    st.signature = rt.signature(present=True, signers=verified.signers)
    st.statement = statement.model_dump(mode="json", by_alias=True)
    report.extend(
        check_statement(
            statement,
            now=report.now,
            door=report.env,
            manifest=st.manifest,
            expected=st.expected,
            snapshot_sha256=st.snapshot_sha256,
            wal_declared=st.wal.declared,
            wal_unverified=frozenset(st.wal.unverified),
        )
    )


def _policies(inputs: ReplicationInputs, report: Report, rt: Runtime, st: _State) -> None:
    ctx = PolicyContext(
        scenario="T2",
        env=report.env,
        config=None,
        signature=st.signature,
        hashes=dict(st.hashes),
        hash_file=REPLICATION_FILE,
        manifest=st.raw if isinstance(st.raw, dict) else None,
        subject=report.subject,
        archive=st.archive,
        statement=st.statement,
    )
    report.add_findings(evaluate(rt.bundle, ctx, deadline=report.deadline, clock=report.clock))


#: the steps in order: (name recorded in the report, body)
_STEPS: tuple[tuple[str, _Step], ...] = (
    ("parse-manifest", _parse),
    ("schema", _schema),
    ("inspect-snapshot", _inspect),
    ("compute-checksums", _checksums),
    ("compare-hashes", _compare),
    ("verify-attestation", _attestation),
    ("policies", _policies),
)


def run_replication(inputs: ReplicationInputs, report: Report, rt: Runtime) -> None:
    st = _State(signature=rt.signature(present=inputs.attestation is not None))
    for name, step in _STEPS:
        report.run(name, partial(step, inputs, report, rt, st))
