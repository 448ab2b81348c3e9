"""T1, configuration tampering: parse -> schema -> config hash -> compare -> policies -> report.

The steps run in a strict order (docs/architecture.md). A failed step records its reasons and
the later steps still run on whatever could be read, so one report lists every problem. Each
step's logic is a module-level pure function returning its reasons; `run_migration` only wires
them in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from webhook.contracts.decision import Reason
from webhook.contracts.digests import digest_forms
from webhook.contracts.models import (
    MANIFEST_PAYLOAD_TYPE,
    AppConfig,
    MigrationManifest,
    validate,
)
from webhook.contracts.reasons import builtin_reason
from webhook.errors import InputError
from webhook.integrity import (
    Digest,
    Envelope,
    digests_equal,
    hash_bytes,
    parse_digest,
    parse_envelope,
)
from webhook.pipelines.claims import env_field, trust_configured
from webhook.pipelines.inputs import (
    CONFIG_FILE,
    MANIFEST_FILE,
    MANIFEST_SIGNATURE_FILE,
    MigrationInputs,
)
from webhook.pipelines.report import Report
from webhook.pipelines.runtime import Runtime
from webhook.policies import PolicyContext, SignatureFacts, evaluate

#: manifest fields copied into the decision's subject (the env is the door's)
SUBJECT_FIELDS = ("app_id", "version")


def schema_reasons(problems: list[tuple[str, str]], *, file: str) -> list[Reason]:
    return [builtin_reason("input-invalid", msg, field=fld, file=file) for fld, msg in problems]


def check_identity(config: AppConfig, manifest: MigrationManifest) -> list[Reason]:
    """app-config.yaml is the config of the app the manifest names (envs: `claims`)."""
    if config.app_id == manifest.app_id:
        return []
    return [
        builtin_reason(
            "config-identity-mismatch",
            f"is {config.app_id!r} but {MANIFEST_FILE} says {manifest.app_id!r}",
            field="app_id",
            file=CONFIG_FILE,
        )
    ]


def declared_config_digest(manifest: object) -> Digest | None:
    """The manifest's config_sha256 as a Digest; None when absent or malformed.

    A malformed value is the schema step's `input-invalid` finding (the model parses it with
    the same rule), so it is never compared and never reported as tampering.
    """
    declared = manifest.get("config_sha256") if isinstance(manifest, Mapping) else None
    if not isinstance(declared, str):
        return None
    try:
        return parse_digest(declared, file=MANIFEST_FILE, field="config_sha256", algorithm="sha256")
    except InputError:
        return None


def check_config_hash(manifest: object, config_sha256: str | None) -> list[Reason]:
    """The config's exact bytes hash to the manifest's config_sha256 (constant-time compare).

    Reads the raw manifest so a mismatch is still reported when another field breaks the schema.
    Only a well-formed SHA-256 that differs is `config-hash-mismatch`; md5/sha1 cannot prove
    anything, so they BLOCK as unusable input whatever the weak-hash policy's action.
    """
    declared = declared_config_digest(manifest)
    if config_sha256 is None or declared is None:
        return []
    if declared.is_weak:
        return [
            builtin_reason(
                "input-invalid",
                f"cannot verify {CONFIG_FILE} against a {declared.algorithm} digest "
                f"(outdated hashing); write {digest_forms('sha256')}",
                field="config_sha256",
                file=MANIFEST_FILE,
            )
        ]
    if digests_equal(declared.hex, config_sha256):
        return []
    return [
        builtin_reason(
            "config-hash-mismatch",
            f"{CONFIG_FILE} was altered: its SHA-256 is {config_sha256}, "
            f"the manifest expects {declared.hex}",
            field="config_sha256",
            file=MANIFEST_FILE,
            severity="critical",
        )
    ]


def declared_hashes(manifest: object) -> dict[str, str]:
    """What the weak-hash policy sees: the algorithm config_sha256 is declared with."""
    declared = declared_config_digest(manifest)
    return {"config_sha256": declared.algorithm} if declared is not None else {}


def check_signed_manifest(payload: bytes, manifest: bytes) -> list[Reason]:
    """A verified signature counts only over these exact manifest bytes (no replay)."""
    if payload == manifest:
        return []
    return [
        builtin_reason(
            "signature-invalid",
            f"the signature is valid but signs a different manifest than {MANIFEST_FILE}",
            field="payload",
            file=MANIFEST_SIGNATURE_FILE,
            severity="critical",
        )
    ]


@dataclass
class _State:
    signature: SignatureFacts
    manifest: Any = None
    config: Any = None
    envelope: Envelope | None = None
    manifest_ok: MigrationManifest | None = None
    config_sha256: str | None = None


#: one step: reads the inputs and what earlier steps left in the state, records on the report
_Step = Callable[[MigrationInputs, Report, Runtime, _State], None]


def _parse(inputs: MigrationInputs, report: Report, rt: Runtime, st: _State) -> None:
    st.manifest = report.document(inputs.manifest, file=MANIFEST_FILE, parse=rt.json)
    report.check_deadline(f"after parsing {MANIFEST_FILE}")
    # the config's digest is the compute-config-hash step's job
    st.config = report.document(inputs.config, file=CONFIG_FILE, parse=rt.yaml, digest=False)
    report.check_deadline(f"after parsing {CONFIG_FILE}")
    if inputs.signature is not None:
        st.envelope = report.document(
            inputs.signature, file=MANIFEST_SIGNATURE_FILE, parse=parse_envelope, digest=False
        )


def _schema(inputs: MigrationInputs, report: Report, rt: Runtime, st: _State) -> None:
    if st.manifest is not None:
        st.manifest_ok, problems = validate(MigrationManifest, st.manifest)
        report.extend(schema_reasons(problems, file=MANIFEST_FILE))
    if isinstance(st.manifest, dict):
        report.subject.update(
            {k: v for k in SUBJECT_FIELDS if isinstance(v := st.manifest.get(k), str)}
        )
    if st.config is not None:
        config_ok, problems = validate(AppConfig, st.config)
        report.extend(schema_reasons(problems, file=CONFIG_FILE))
        if config_ok is not None and st.manifest_ok is not None:
            report.extend(check_identity(config_ok, st.manifest_ok))
    # the door says where this goes; each artifact may only repeat it
    report.extend(env_field(st.manifest, door=report.env, file=MANIFEST_FILE))
    report.extend(env_field(st.config, door=report.env, file=CONFIG_FILE))


def _compute_hash(inputs: MigrationInputs, report: Report, rt: Runtime, st: _State) -> None:
    if inputs.config is not None:
        st.config_sha256 = hash_bytes(inputs.config)
        report.digests[CONFIG_FILE] = "sha256:" + st.config_sha256


def _compare(inputs: MigrationInputs, report: Report, rt: Runtime, st: _State) -> None:
    report.extend(check_config_hash(st.manifest, st.config_sha256))
    report.extend(trust_configured(report.env, len(rt.trust)))
    if st.envelope is None or not inputs.signature or inputs.manifest is None:
        return
    verified = rt.verify(
        inputs.signature,
        st.envelope,
        payload_type=MANIFEST_PAYLOAD_TYPE,
        file=MANIFEST_SIGNATURE_FILE,
    )
    replayed = check_signed_manifest(verified.payload, inputs.manifest)
    report.extend(replayed)
    if not replayed:
        st.signature = rt.signature(present=True, signers=verified.signers)


def _policies(inputs: MigrationInputs, report: Report, rt: Runtime, st: _State) -> None:
    ctx = PolicyContext(
        scenario="T1",
        env=report.env,
        config=st.config if isinstance(st.config, dict) else None,
        config_file=CONFIG_FILE,
        signature=st.signature,
        manifest=st.manifest if isinstance(st.manifest, dict) else None,
        subject=report.subject,
        hashes=declared_hashes(st.manifest),
        hash_file=MANIFEST_FILE,
    )
    report.add_findings(evaluate(rt.bundle, ctx, deadline=report.deadline, clock=report.clock))


#: the steps in order: (name recorded in the report, body)
_STEPS: tuple[tuple[str, _Step], ...] = (
    ("parse", _parse),
    ("schema", _schema),
    ("compute-config-hash", _compute_hash),
    ("compare-manifest", _compare),
    ("policies", _policies),
)


def run_migration(inputs: MigrationInputs, report: Report, rt: Runtime) -> None:
    st = _State(signature=rt.signature(present=inputs.signature is not None))
    for name, step in _STEPS:
        report.run(name, partial(step, inputs, report, rt, st))
