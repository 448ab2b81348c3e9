"""T2, replication integrity: manifest -> snapshot -> checksums -> compare -> policies.

The snapshot is streamed once (whole-file digest and archive guards in the same pass). WAL files
must match the manifest's list exactly. An attestation (in-toto statement in DSSE) binds the
snapshot and WAL digests to a trusted signer; in admission mode it is the only integrity proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from webhook.contracts.models import (
    INTOTO_PAYLOAD_TYPE,
    InTotoStatement,
    ReplicationManifest,
    validate,
)
from webhook.contracts.strict import load_json
from webhook.errors import InputError
from webhook.integrity import (
    STRONG,
    Digest,
    Envelope,
    digests_equal,
    hash_bytes,
    hash_file,
    inspect_targz,
    parse_digest,
    parse_envelope,
)
from webhook.pipelines.claims import env_claim, env_field, trust_configured
from webhook.pipelines.inputs import (
    ATTESTATION_FILE,
    REPLICATION_FILE,
    SNAPSHOT_FILE,
    WAL_DIR,
    ReplicationInputs,
)
from webhook.pipelines.report import Report
from webhook.pipelines.runtime import Runtime
from webhook.policies import PolicyContext, SignatureFacts, evaluate

_WEAK_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}


@dataclass
class _State:
    signature: SignatureFacts
    raw: Any = None
    manifest: ReplicationManifest | None = None
    envelope: Envelope | None = None
    expected: Digest | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    #: WAL name -> sha256 hex declared by the manifest (first occurrence)
    wal_declared: dict[str, str] = field(default_factory=dict)
    snapshot_digest: str | None = None
    wal_actual: dict[str, str] = field(default_factory=dict)


def _wal_label(name: str) -> str:
    return f"{WAL_DIR}/{name}"


def _hex_algorithm(digest: Digest) -> str:
    """The hashlib name of a digest; a bare hex string is named by its length."""
    if digest.prefixed:
        return digest.algorithm
    return _WEAK_BY_LENGTH.get(len(digest.hex), "unknown")


def _parse_time(value: str, *, field_name: str) -> datetime:
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"not an RFC 3339 timestamp (found {value!r})", file=ATTESTATION_FILE, field=field_name
        ) from None
    if ts.tzinfo is None:
        raise InputError(
            f"timestamp has no timezone (found {value!r})", file=ATTESTATION_FILE, field=field_name
        )
    return ts


def run_replication(
    inputs: ReplicationInputs,
    report: Report,
    rt: Runtime,
) -> None:
    st = _State(signature=rt.signature(present=inputs.attestation is not None))

    def parse() -> None:
        st.raw = report.document(
            inputs.manifest,
            file=REPLICATION_FILE,
            parse=rt.yaml,
        )
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

    def schema() -> None:
        if st.raw is None:
            return
        st.manifest, problems = validate(ReplicationManifest, st.raw)
        for fld, msg in problems:
            report.block("input-invalid", msg, field=fld, file=REPLICATION_FILE)
        raw = st.raw if isinstance(st.raw, dict) else {}
        report.subject.update(
            {
                k: v
                for k in ("source_db", "target_db", "sync_mode")
                if isinstance(v := raw.get(k), str)
            }
        )
        report.extend(env_field(raw, door=report.env, file=REPLICATION_FILE))
        expected = raw.get("expected_snapshot_hash")
        if isinstance(expected, str):
            try:
                st.expected = parse_digest(
                    expected, file=REPLICATION_FILE, field="expected_snapshot_hash"
                )
            except InputError as exc:
                report.error(exc)
            else:
                st.hashes["expected_snapshot_hash"] = (
                    st.expected.algorithm if st.expected.prefixed else "unprefixed"
                )
        wal_list = raw.get("wal_files")
        if isinstance(wal_list, list):
            _check_wal_list(wal_list)

    def _check_wal_list(wal_list: list[Any]) -> None:
        previous: str | None = None
        for i, item in enumerate(wal_list):
            if not isinstance(item, dict):
                continue  # schema step already named it
            name, value = item.get("name"), item.get("sha256")
            if not isinstance(name, str) or not isinstance(value, str):
                continue
            fld = f"wal_files[{i}]"
            try:
                # the field is named sha256: a bare 64-hex value is a SHA-256 digest
                digest = parse_digest(
                    f"sha256:{value}" if len(value) == 64 and ":" not in value else value,
                    file=REPLICATION_FILE,
                    field=f"{fld}.sha256",
                )
            except InputError as exc:
                report.error(exc)
                continue
            st.hashes[f"{fld}.sha256"] = digest.algorithm if digest.prefixed else "unprefixed"
            if name in st.wal_declared:
                report.block(
                    "wal-integrity",
                    f"WAL segment {name} is listed twice",
                    field=f"{fld}.name",
                    file=REPLICATION_FILE,
                    severity="critical",
                )
                continue
            if previous is not None and name <= previous:
                report.block(
                    "wal-integrity",
                    f"WAL segment {name} is out of order: it must come after {previous} "
                    "(names strictly increasing)",
                    field=f"{fld}.name",
                    file=REPLICATION_FILE,
                    severity="critical",
                )
            previous = max(previous or name, name)
            st.wal_declared[name] = digest.hex

    def inspect() -> None:
        if inputs.snapshot is None:
            return
        algorithms = ["sha256"]
        if st.expected is not None:
            algo = _hex_algorithm(st.expected)
            if algo in STRONG and algo not in algorithms:
                algorithms.append(algo)
        result = inspect_targz(
            inputs.snapshot,
            file_algorithms=tuple(algorithms),
            file=SNAPSHOT_FILE,
            deadline=report.deadline,
        )
        report.digests[SNAPSHOT_FILE] = "sha256:" + result.file_digests["sha256"]
        st.snapshot_digest = result.file_digests.get(
            _hex_algorithm(st.expected) if st.expected else "sha256"
        )
        for finding in result.findings:
            member = f" (member {finding.member!r})" if finding.member else ""
            report.block(
                finding.check,
                finding.message + member,
                field=finding.member or "",
                file=SNAPSHOT_FILE,
                severity="critical",
            )

    def checksums() -> None:
        for name in sorted(inputs.wal_files):
            data = inputs.wal_files[name]
            actual = (
                hash_file(data, file=_wal_label(name), deadline=report.deadline)
                if isinstance(data, Path)
                else hash_bytes(data)
            )
            st.wal_actual[name] = actual
            report.digests[_wal_label(name)] = "sha256:" + actual

    def compare() -> None:
        if st.expected is not None and _hex_algorithm(st.expected) not in STRONG:
            # the gate never computes md5/sha1: such a snapshot is unverified, whatever the
            # weak-hash policy's action (fail closed even if an operator turned it off)
            report.block(
                "snapshot-hash-unverifiable",
                f"cannot verify the snapshot against a {_hex_algorithm(st.expected)} digest; "
                "expected sha256/sha384/sha512",
                field="expected_snapshot_hash",
                file=REPLICATION_FILE,
                severity="critical",
            )
        elif (
            st.expected is not None
            and st.snapshot_digest is not None
            and not digests_equal(st.expected.hex, st.snapshot_digest)
        ):
            report.block(
                "snapshot-hash-mismatch",
                f"snapshot does not match: its {_hex_algorithm(st.expected)} is "
                f"{st.snapshot_digest}, the manifest expects {st.expected.hex}",
                field="expected_snapshot_hash",
                file=REPLICATION_FILE,
                severity="critical",
            )
        _compare_wal()

    def _compare_wal() -> None:
        provided = set(st.wal_actual)
        for name in sorted(provided - set(st.wal_declared)):
            report.block(
                "wal-integrity",
                f"WAL file {name} was provided but is not listed in {REPLICATION_FILE}",
                field="wal_files",
                file=_wal_label(name),
                severity="critical",
            )
        if inputs.snapshot_required:
            for name in sorted(set(st.wal_declared) - provided):
                report.block(
                    "wal-integrity",
                    f"WAL segment {name} is listed but was not provided",
                    field="wal_files",
                    file=REPLICATION_FILE,
                    severity="critical",
                )
        for name in sorted(provided & set(st.wal_declared)):
            if not digests_equal(st.wal_declared[name], st.wal_actual[name]):
                report.block(
                    "wal-integrity",
                    f"WAL file was altered: its SHA-256 is {st.wal_actual[name]}, "
                    f"the manifest expects {st.wal_declared[name]}",
                    field="sha256",
                    file=_wal_label(name),
                    severity="critical",
                )

    def attestation() -> None:
        report.extend(trust_configured(report.env, len(rt.trust)))
        if st.envelope is None or not inputs.attestation:
            return
        verified = rt.verify(
            inputs.attestation, st.envelope, payload_type=INTOTO_PAYLOAD_TYPE, file=ATTESTATION_FILE
        )
        statement, problems = validate(
            InTotoStatement, load_json(verified.payload, source=ATTESTATION_FILE)
        )
        for fld, msg in problems:
            report.block(
                "attestation-mismatch",
                msg,
                field=f"payload.{fld}",
                file=ATTESTATION_FILE,
                severity="critical",
            )
        if statement is None:
            return
        st.signature = rt.signature(present=True, signers=verified.signers)
        _check_statement(statement)

    def _mismatch(message: str, fld: str) -> None:
        report.block(
            "attestation-mismatch", message, field=fld, file=ATTESTATION_FILE, severity="critical"
        )

    def _check_statement(statement: InTotoStatement) -> None:
        pred = statement.predicate
        # the env is bound into the signed predicate: a prod signature cannot be replayed to
        # staging's door or the reverse
        report.extend(
            env_claim(pred.env, door=report.env, file=ATTESTATION_FILE, field="predicate.env")
        )
        expires = _parse_time(pred.expires, field_name="predicate.expires")
        created = _parse_time(pred.created, field_name="predicate.created")
        if expires <= report.now:
            report.block(
                "signature-invalid",
                f"the signed statement expired at {pred.expires}",
                field="predicate.expires",
                file=ATTESTATION_FILE,
                severity="critical",
            )
        if created > report.now:
            _mismatch(
                f"the statement claims to be created in the future ({pred.created})",
                "predicate.created",
            )
        m = st.manifest
        if m is not None:
            for key in ("source_db", "target_db", "sync_mode"):
                signed, declared = getattr(pred, key), getattr(m, key)
                if signed != declared:
                    _mismatch(
                        f"signed {key} is {signed!r} but the manifest says {declared!r}",
                        f"predicate.{key}",
                    )
        subjects = {s.name: s.digest for s in statement.subject}
        snap = subjects.get(SNAPSHOT_FILE)
        if snap is None:
            _mismatch(f"the statement has no subject named {SNAPSHOT_FILE}", "subject")
        else:
            if st.expected is not None and _hex_algorithm(st.expected) in STRONG:
                algo = _hex_algorithm(st.expected)
                signed = snap.get(algo)
                if signed is None or not digests_equal(signed, st.expected.hex):
                    _mismatch(
                        f"signed {SNAPSHOT_FILE} {algo} is {signed or 'absent'}, the manifest "
                        f"expects {st.expected.hex}",
                        "subject",
                    )
            actual = report.digests.get(SNAPSHOT_FILE)
            signed256 = snap.get("sha256")
            if actual is not None and (
                signed256 is None or not digests_equal("sha256:" + signed256, actual)
            ):
                _mismatch(
                    f"signed {SNAPSHOT_FILE} sha256 is {signed256 or 'absent'}, the file's is "
                    f"{actual.removeprefix('sha256:')}",
                    "subject",
                )
        signed_wal = {
            n.removeprefix(WAL_DIR + "/"): d
            for n, d in subjects.items()
            if n.startswith(WAL_DIR + "/")
        }
        for name in sorted(set(st.wal_declared) | set(signed_wal)):
            declared = st.wal_declared.get(name)
            signed = signed_wal.get(name, {}).get("sha256")
            if declared is None:
                _mismatch(f"signed WAL segment {name} is not listed in the manifest", "subject")
            elif signed is None:
                _mismatch(f"WAL segment {name} is listed in the manifest but not signed", "subject")
            elif not digests_equal(signed, declared):
                _mismatch(
                    f"signed WAL segment {name} sha256 is {signed}, the manifest "
                    f"expects {declared}",
                    "subject",
                )

    def policies() -> None:
        ctx = PolicyContext(
            scenario="T2",
            env=report.env,
            config=None,
            signature=st.signature,
            hashes=dict(st.hashes),
            hash_file=REPLICATION_FILE,
        )
        report.add_findings(evaluate(rt.bundle, ctx))

    report.run("parse-manifest", parse)
    report.run("schema", schema)
    report.run("inspect-snapshot", inspect)
    report.run("compute-checksums", checksums)
    report.run("compare-hashes", compare)
    report.run("verify-attestation", attestation)
    report.run("policies", policies)
