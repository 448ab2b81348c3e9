"""The `migration-gate` command: the engine on the command line, plus key and audit tooling.

Exit codes: 0 ALLOW, 1 BLOCK (or a failed verification), 2 usage error or unreadable input.
`main(argv)` is the one place that catches `GateError` and renders it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from webhook import __version__
from webhook.artifacts import artifact_dir, migration_inputs, read_limited, replication_inputs
from webhook.atomicfile import write_atomic
from webhook.audit import open_store, record_decision
from webhook.audit.cli import register as register_audit
from webhook.contracts.decision import Decision
from webhook.contracts.models import (
    INTOTO_PAYLOAD_TYPE,
    MANIFEST_PAYLOAD_TYPE,
    REPLICATION_PREDICATE,
    STATEMENT_TYPE,
)
from webhook.contracts.strict import load_yaml
from webhook.errors import GateError, InputError, UsageError
from webhook.integrity import (
    TrustStore,
    envelope_json,
    generate_private_key,
    hash_file,
    key_id,
    load_private_key_pem,
    parse_envelope,
    private_key_pem,
    public_key_pem,
    sign_envelope,
    verify_envelope,
)
from webhook.pipelines import Engine
from webhook.pipelines.inputs import (
    ATTESTATION_FILE,
    MANIFEST_FILE,
    MANIFEST_SIGNATURE_FILE,
    REPLICATION_FILE,
    SNAPSHOT_FILE,
    WAL_DIR,
)
from webhook.policies.context import ENVS, Env
from webhook.policytest.cli import register as register_policy
from webhook.server.cli import register as register_serve

EXIT_ALLOW, EXIT_BLOCK, EXIT_USAGE = 0, 1, 2


# --- reading inputs -----------------------------------------------------------------------------


# --- rendering ----------------------------------------------------------------------------------


def render_text(decision: Decision) -> str:
    subject = " ".join(f"{k}={v}" for k, v in sorted(decision.subject.items()))
    lines = [f"{decision.decision} {decision.scenario} {subject}".rstrip()]
    lines += [f"  error   {r.line()}" for r in decision.reasons]
    lines += [f"  warning {r.line()}" for r in decision.warnings]
    lines += [f"  audit   {r.line()}" for r in decision.audited]
    steps = ", ".join(f"{s.name} {'ok' if s.ok else 'FAILED'}" for s in decision.steps)
    lines.append(f"  steps: {steps}")
    lines.append(f"  policy bundle {decision.policy_bundle}  request {decision.request_id}")
    return "\n".join(lines)


def emit(decision: Decision, output: str) -> int:
    print(decision.to_json() if output == "json" else render_text(decision))
    return EXIT_ALLOW if decision.allowed else EXIT_BLOCK


# --- commands -----------------------------------------------------------------------------------


def _engine(args: argparse.Namespace) -> Engine:
    policy = Path(args.policy) if args.policy else None
    trust = Path(args.trust_dir) if args.trust_dir else None
    return Engine.load(policy_path=policy, trust_dir=trust)


def _record(args: argparse.Namespace, decision: Decision) -> Decision:
    """With an audit store configured, the decision only stands once it is recorded."""
    if not args.audit_db:
        return decision

    store = open_store(Path(args.audit_db))
    try:
        return record_decision(store, decision, source="cli", dry_run=False, emit=_discard)
    finally:
        store.close()


def _discard(_line: str) -> None:
    """The CLI prints the report itself; the audit JSON line goes to the store only."""


def cmd_validate(args: argparse.Namespace) -> int:
    folder = artifact_dir(args.dir)
    engine = _engine(args)
    env: Env = args.env
    deadline = None if args.deadline is None else time.monotonic() + args.deadline
    if args.scenario == "migration":
        decision = engine.validate_migration(migration_inputs(folder), env=env, deadline=deadline)
    else:
        decision = engine.validate_replication(
            replication_inputs(folder), env=env, deadline=deadline
        )
    return emit(_record(args, decision), args.output)


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (found {text!r})")
    return value


def cmd_keygen(args: argparse.Namespace) -> int:

    key = generate_private_key(args.alg)
    out = Path(args.out)
    private, public = out.with_suffix(".key"), out.with_suffix(".pub")
    for path in (private, public):
        if path.exists() and not args.force:
            raise UsageError("already exists (use --force to overwrite)", file=str(path))
    out.parent.mkdir(parents=True, exist_ok=True)
    # atomic and O_EXCL: never through a symlink at the name, never an old file's wider mode
    write_atomic(private, private_key_pem(key), mode=0o600)
    write_atomic(public, public_key_pem(key.public_key()), mode=0o644)
    kid = key_id(key.public_key())
    if args.output == "json":
        print(
            json.dumps(
                {
                    "keyid": kid,
                    "private": str(private),
                    "public": str(public),
                    "algorithm": args.alg,
                },
                sort_keys=True,
            )
        )
    else:
        print(
            f"{kid}\n  private key {private} (keep secret)\n  public key  {public} "
            "(put it in the trust directory)"
        )
    return EXIT_ALLOW


def _load_signing_key(path: str) -> Any:

    data = read_limited(Path(path), limit=64 * 1024)
    if data is None:
        raise UsageError("no such file", file=path)
    return load_private_key_pem(data, file=path)


def _write_envelope(path: Path, envelope: Any) -> None:

    path.write_bytes(envelope_json(envelope))


def cmd_sign(args: argparse.Namespace) -> int:

    folder = artifact_dir(args.dir)
    keys = [_load_signing_key(k) for k in args.key]
    if args.scenario == "migration":
        manifest = read_limited(folder / MANIFEST_FILE)
        if manifest is None:
            raise UsageError("no such file", file=str(folder / MANIFEST_FILE))
        envelope = sign_envelope(manifest, MANIFEST_PAYLOAD_TYPE, keys)
        target = folder / MANIFEST_SIGNATURE_FILE
    else:
        statement = replication_statement(folder, valid_for=timedelta(days=args.valid_days))
        envelope = sign_envelope(statement, INTOTO_PAYLOAD_TYPE, keys)
        target = folder / ATTESTATION_FILE
    _write_envelope(target, envelope)
    print(f"signed {target} with {len(keys)} key(s)")
    return EXIT_ALLOW


def replication_statement(folder: Path, *, valid_for: timedelta) -> bytes:
    """Build the in-toto statement binding the snapshot and WAL digests to the manifest."""

    raw = read_limited(folder / REPLICATION_FILE)
    if raw is None:
        raise UsageError("no such file", file=str(folder / REPLICATION_FILE))
    manifest = load_yaml(raw, source=REPLICATION_FILE)
    if not isinstance(manifest, dict):
        raise InputError("expected a mapping", file=REPLICATION_FILE)
    snapshot = folder / SNAPSHOT_FILE
    if not snapshot.is_file():
        raise UsageError("no such file", file=str(snapshot))
    subjects = [{"name": SNAPSHOT_FILE, "digest": {"sha256": hash_file(snapshot)}}]
    wal_dir = folder / WAL_DIR
    if wal_dir.is_dir():
        subjects += [
            {"name": f"{WAL_DIR}/{p.name}", "digest": {"sha256": hash_file(p)}}
            for p in sorted(wal_dir.iterdir())
            if p.is_file()
        ]
    now = datetime.now(UTC).replace(microsecond=0)
    predicate = {k: manifest.get(k) for k in ("source_db", "target_db", "sync_mode")}
    predicate["created"] = now.isoformat().replace("+00:00", "Z")
    predicate["expires"] = (now + valid_for).isoformat().replace("+00:00", "Z")
    # the env is signed (issue 11): the statement verifies only through that env's door
    predicate["env"] = "staging" if manifest.get("env") == "staging" else "prod"
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": REPLICATION_PREDICATE,
        "predicate": predicate,
    }
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def cmd_verify(args: argparse.Namespace) -> int:

    if not args.trust_dir:
        raise UsageError("verify needs --trust-dir (or MIGRATION_GATE_TRUST_DIR)")
    data = read_limited(Path(args.envelope))
    if data is None:
        raise UsageError("no such file", file=args.envelope)
    envelope = parse_envelope(data, file=args.envelope)
    payload_type = args.payload_type or (
        INTOTO_PAYLOAD_TYPE
        if envelope.payloadType == INTOTO_PAYLOAD_TYPE
        else MANIFEST_PAYLOAD_TYPE
    )
    trust = TrustStore.from_dir(Path(args.trust_dir))
    verified = verify_envelope(
        envelope, trust, payload_type=payload_type, threshold=args.threshold, file=args.envelope
    )
    if args.payload:
        expected = read_limited(Path(args.payload))
        if expected != verified.payload:
            print(
                f"{args.envelope}: signature is valid but signs a different payload than "
                f"{args.payload}",
                file=sys.stderr,
            )
            return EXIT_BLOCK
    print(f"{args.envelope}: verified, signed by {', '.join(verified.signers)}")
    return EXIT_ALLOW


# --- parser -------------------------------------------------------------------------------------


def _env_default(name: str) -> str | None:
    return os.environ.get(name) or None


def common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--policy",
        default=_env_default("MIGRATION_GATE_POLICY"),
        help="policy bundle YAML (env MIGRATION_GATE_POLICY; default: built-in)",
    )
    common.add_argument(
        "--trust-dir",
        default=_env_default("MIGRATION_GATE_TRUST_DIR"),
        help="directory of trusted PEM public keys (env MIGRATION_GATE_TRUST_DIR)",
    )
    common.add_argument(
        "--audit-db",
        default=_env_default("MIGRATION_GATE_AUDIT_DB"),
        help="SQLite audit store to record decisions in (env MIGRATION_GATE_AUDIT_DB)",
    )
    common.add_argument("--output", choices=("text", "json"), default="text")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="migration-gate",
        description="Fail-closed security gate for migrations (T1) and replications (T2).",
    )
    parser.add_argument("--version", action="version", version=f"migration-gate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = sub.add_parser(
        "validate", help="validate an artifact folder (exit 0 ALLOW, 1 BLOCK)"
    )
    vsub = validate.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    for name, what in (
        ("migration", "T1: migration_manifest.json + app-config.yaml"),
        ("replication", "T2: replication_manifest.yaml + snapshot + WAL"),
    ):
        p = vsub.add_parser(name, parents=[common], help=what)
        p.add_argument("dir", help="artifact folder")
        p.add_argument(
            "--env",
            choices=ENVS,
            default="prod",
            help="the environment the change is for; selects the policies (default: prod). "
            "The artifact's own env is never trusted for this: one that differs BLOCKs "
            "(env-mismatch). No environment variable sets it, on purpose.",
        )
        p.add_argument(
            "--deadline",
            type=_seconds,
            default=None,
            metavar="SECONDS",
            help="time budget for the decision: past it the decision BLOCKs "
            "(deadline-exceeded), checked inside every step (default: none, since hashing a "
            "large snapshot may take minutes)",
        )
        p.set_defaults(func=cmd_validate)

    keygen = sub.add_parser("keygen", parents=[common], help="generate a signing key pair")
    keygen.add_argument(
        "--alg", default="ed25519", choices=("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-pss")
    )
    keygen.add_argument(
        "--out", required=True, help="path prefix: writes PREFIX.key and PREFIX.pub"
    )
    keygen.add_argument("--force", action="store_true")
    keygen.set_defaults(func=cmd_keygen)

    sign = sub.add_parser("sign", help="sign a migration manifest or a replication statement")
    ssub = sign.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    for name in ("migration", "replication"):
        p = ssub.add_parser(name, parents=[common])
        p.add_argument("dir", help="artifact folder")
        p.add_argument(
            "--key",
            action="append",
            required=True,
            help="private key PEM (repeat for several signers)",
        )
        if name == "replication":
            p.add_argument(
                "--valid-days", type=int, default=30, help="days until the signed statement expires"
            )
        p.set_defaults(func=cmd_sign)

    verify = sub.add_parser("verify", parents=[common], help="verify a DSSE envelope")
    verify.add_argument("envelope", help="DSSE envelope JSON")
    verify.add_argument("--payload", help="file whose exact bytes the envelope must sign")
    verify.add_argument("--payload-type", help="expected payloadType (default: from the envelope)")
    verify.add_argument("--threshold", type=int, default=1)
    verify.set_defaults(func=cmd_verify)

    policy = sub.add_parser("policy", help="policy bundle commands: show, lint, test")
    psub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    register_policy(psub, common)

    # subcommands whose code lives with what they operate: the audit store and the server
    register_audit(sub, common)
    register_serve(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except GateError as exc:
        print(f"migration-gate: error: {exc.diagnostics()}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: stop quietly, as the Python docs advise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
