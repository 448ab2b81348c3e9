"""`keygen`, `sign`, `verify` and `pin`: making and checking what a folder's signatures bind.

None of them overwrites a file unless `--force` says so (`pin` rewrites the manifest, which is its
purpose, but refuses a signed one unless it re-signs it with `--key`).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webhook.cli.options import (
    EXIT_BLOCK,
    EXIT_OK,
    Parser,
    SubCommands,
    add_output,
    add_trust_dir,
    positive_int,
)
from webhook.errors import InputError, UsageError

if TYPE_CHECKING:
    from webhook.integrity.dsse import Envelope

ALGORITHMS = ("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-pss")


def register(commands: SubCommands) -> None:
    _register_keygen(commands)
    _register_sign(commands)
    _register_verify(commands)
    _register_pin(commands)


def _register_keygen(commands: SubCommands) -> None:
    keygen = commands.add_parser("keygen", help="generate a signing key pair")
    keygen.add_argument(
        "--alg", default="ed25519", choices=ALGORITHMS, help="key algorithm (default: ed25519)"
    )
    keygen.add_argument(
        "--out",
        required=True,
        metavar="PREFIX",
        help="writes PREFIX.key (private, mode 0600) and PREFIX.pub; PREFIX is kept whole "
        "(k.v2 writes k.v2.key)",
    )
    keygen.add_argument("--force", action="store_true", help="overwrite existing key files")
    add_output(keygen)
    keygen.set_defaults(func=cmd_keygen)


def _add_keys(parser: Parser, *, required: bool, what: str) -> None:
    parser.add_argument(
        "--key",
        action="append",
        required=required,
        default=None,
        metavar="FILE",
        help=f"private key PEM {what} (repeat for several signers)",
    )


def _register_sign(commands: SubCommands) -> None:
    sign = commands.add_parser("sign", help="sign a migration manifest or a replication statement")
    scenarios = sign.add_commands(dest="scenario", metavar="SCENARIO", title="scenarios")
    for name, what in (
        ("migration", "sign migration_manifest.json into migration_manifest.dsse.json"),
        ("replication", "attest snapshot and WAL digests into snapshot.dsse.json"),
    ):
        p = scenarios.add_parser(name, help=what)
        p.add_argument("dir", metavar="DIR", help="artifact folder")
        _add_keys(p, required=True, what="to sign with")
        if name == "replication":
            p.add_argument(
                "--valid-days",
                type=positive_int,
                default=30,
                help="days until the signed statement expires (default: 30)",
            )
        p.add_argument("--force", action="store_true", help="overwrite an existing signature")
        p.set_defaults(func=cmd_sign)


def _register_verify(commands: SubCommands) -> None:
    verify = commands.add_parser("verify", help="verify a DSSE envelope against a trust store")
    verify.add_argument("envelope", metavar="ENVELOPE", help="DSSE envelope JSON")
    add_trust_dir(verify)
    verify.add_argument("--payload", metavar="FILE", help="file whose exact bytes it must sign")
    verify.add_argument(
        "--payload-type", help="expected payloadType (default: the envelope's own, if known)"
    )
    verify.add_argument(
        "--threshold",
        type=positive_int,
        default=1,
        help="distinct trusted keys that must sign (default: 1)",
    )
    verify.set_defaults(func=cmd_verify)


def _register_pin(commands: SubCommands) -> None:
    pin = commands.add_parser(
        "pin",
        help="write app-config.yaml's SHA-256 into migration_manifest.json (config_sha256)",
    )
    pin.add_argument("dir", metavar="DIR", help="migration artifact folder")
    _add_keys(pin, required=False, what="to re-sign a signed manifest with")
    pin.set_defaults(func=cmd_pin)


# --- commands -----------------------------------------------------------------------------------


def _new_file(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UsageError("already exists (use --force to overwrite)", file=str(path))


def key_paths(prefix: str) -> tuple[Path, Path]:
    """PREFIX.key and PREFIX.pub, the prefix kept whole (not `with_suffix`: k.v2 stays k.v2)."""
    return Path(prefix + ".key"), Path(prefix + ".pub")


def cmd_keygen(args: argparse.Namespace) -> int:
    from webhook.atomicfile import write_atomic  # noqa: PLC0415
    from webhook.integrity import (  # noqa: PLC0415
        generate_private_key,
        key_id,
        private_key_pem,
        public_key_pem,
    )

    private, public = key_paths(args.out)
    for path in (private, public):
        _new_file(path, args.force)
    key = generate_private_key(args.alg)
    private.parent.mkdir(parents=True, exist_ok=True)
    # atomic and O_EXCL: never through a symlink at the name, never an old file's wider mode
    write_atomic(private, private_key_pem(key), mode=0o600)
    write_atomic(public, public_key_pem(key.public_key()), mode=0o644)
    kid = key_id(key.public_key())
    if args.output == "json":
        doc = {"keyid": kid, "private": str(private), "public": str(public), "algorithm": args.alg}
        print(json.dumps(doc, sort_keys=True))
    else:
        print(
            f"{kid}\n  private key {private} (keep secret)\n  public key  {public} "
            "(put it in the trust directory)"
        )
    return EXIT_OK


def load_signing_key(path: str) -> Any:
    from webhook.artifacts import read_limited  # noqa: PLC0415
    from webhook.integrity import load_private_key_pem  # noqa: PLC0415

    data = read_limited(Path(path), limit=64 * 1024)
    if data is None:
        raise UsageError("no such file", file=path)
    return load_private_key_pem(data, file=path)


def write_envelope(path: Path, envelope: Envelope) -> None:
    from webhook.atomicfile import write_atomic  # noqa: PLC0415
    from webhook.integrity import envelope_json  # noqa: PLC0415

    write_atomic(path, envelope_json(envelope), mode=0o644)


def sign_manifest(folder: Path, keys: list[Any]) -> Path:
    """Sign migration_manifest.json's exact bytes; returns the envelope written."""
    from webhook.artifacts import read_limited  # noqa: PLC0415
    from webhook.contracts.limits import DEFAULT_LIMITS  # noqa: PLC0415
    from webhook.contracts.models import MANIFEST_PAYLOAD_TYPE  # noqa: PLC0415
    from webhook.integrity import sign_envelope  # noqa: PLC0415
    from webhook.pipelines.inputs import MANIFEST_FILE, MANIFEST_SIGNATURE_FILE  # noqa: PLC0415

    manifest = read_limited(folder / MANIFEST_FILE)
    if manifest is None:
        raise UsageError("no such file", file=str(folder / MANIFEST_FILE))
    if len(manifest) > DEFAULT_LIMITS.max_bytes:  # never sign the prefix of a truncated read
        raise InputError(
            f"larger than the {DEFAULT_LIMITS.max_bytes}-byte limit",
            file=str(folder / MANIFEST_FILE),
        )
    target = folder / MANIFEST_SIGNATURE_FILE
    write_envelope(target, sign_envelope(manifest, MANIFEST_PAYLOAD_TYPE, keys))
    return target


def attest_replication(folder: Path, keys: list[Any], *, valid_for: timedelta) -> Path:
    """Sign the in-toto statement of the folder's snapshot and WAL digests; returns its path."""
    from webhook.cli.statement import replication_statement  # noqa: PLC0415
    from webhook.contracts.models import INTOTO_PAYLOAD_TYPE  # noqa: PLC0415
    from webhook.integrity import sign_envelope  # noqa: PLC0415
    from webhook.pipelines.inputs import ATTESTATION_FILE  # noqa: PLC0415

    statement = replication_statement(folder, valid_for=valid_for)
    target = folder / ATTESTATION_FILE
    write_envelope(target, sign_envelope(statement, INTOTO_PAYLOAD_TYPE, keys))
    return target


def cmd_sign(args: argparse.Namespace) -> int:
    from webhook.artifacts import artifact_dir  # noqa: PLC0415
    from webhook.pipelines.inputs import ATTESTATION_FILE, MANIFEST_SIGNATURE_FILE  # noqa: PLC0415

    folder = artifact_dir(args.dir)
    name = MANIFEST_SIGNATURE_FILE if args.scenario == "migration" else ATTESTATION_FILE
    _new_file(folder / name, args.force)
    keys = [load_signing_key(k) for k in args.key]
    if args.scenario == "migration":
        target = sign_manifest(folder, keys)
    else:
        target = attest_replication(folder, keys, valid_for=timedelta(days=args.valid_days))
    print(f"signed {target} with {len(keys)} key(s)")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from webhook.artifacts import read_limited  # noqa: PLC0415
    from webhook.contracts.models import INTOTO_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE  # noqa: PLC0415
    from webhook.integrity import TrustStore, parse_envelope, verify_envelope  # noqa: PLC0415

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
        if expected is None:
            raise UsageError("no such file", file=args.payload)
        if expected != verified.payload:
            print(
                f"{args.envelope}: signature is valid but signs a different payload than "
                f"{args.payload}",
                file=sys.stderr,
            )
            return EXIT_BLOCK
    print(f"{args.envelope}: verified, signed by {', '.join(verified.signers)}")
    return EXIT_OK


def cmd_pin(args: argparse.Namespace) -> int:
    from webhook.artifacts import artifact_dir  # noqa: PLC0415
    from webhook.scaffold.pin import pin_config  # noqa: PLC0415

    folder = artifact_dir(args.dir)
    keys = [load_signing_key(k) for k in args.key or ()]
    result = pin_config(folder, resign=bool(keys))
    print(f"pinned {result.manifest}: config_sha256 {result.digest} ({result.change})")
    if result.signed:
        target = sign_manifest(folder, keys)
        print(f"re-signed {target} with {len(keys)} key(s)")
    return EXIT_OK
