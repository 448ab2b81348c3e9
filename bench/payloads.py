"""Request bodies for B1-B3, built from the real t1_good example and checked against the engine.

B1 asks for a 2 KB config; t1_good's is smaller, so the config is padded with YAML comments (no
policy looks at comments) and the manifest re-signed with the published TEST key from
examples/keys, which t1_good's trust dir trusts. The engine must say ALLOW for these inputs before
any load is sent, so the benchmark always measures the full allow path.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.procs import ROOT

EXAMPLE = ROOT / "examples" / "t1_good"
SIGNER_KEY = ROOT / "examples" / "keys" / "signer.TEST-ONLY.key"
TRUST_DIR = EXAMPLE / "trust"
CONFIG_BYTES = 2048
UID_MARKER = "@@UID@@"


@dataclass(frozen=True)
class Artifacts:
    manifest: bytes
    config: bytes
    signature: bytes


def padded_config(size: int = CONFIG_BYTES) -> bytes:
    text = (EXAMPLE / "app-config.yaml").read_bytes()
    n = 0
    while len(text) < size:
        line = f"# change log {n:03d}: reviewed by platform-security, no functional change\n"
        text += line.encode()[: size - len(text)] if len(text) + len(line) > size else line.encode()
        n += 1
    if not text.endswith(b"\n"):
        text = text[:-1] + b"\n"
    return text


def artifacts() -> Artifacts:
    from webhook.contracts.models import MANIFEST_PAYLOAD_TYPE
    from webhook.integrity import envelope_json, load_private_key_pem, sign_envelope

    config = padded_config()
    manifest = json.loads((EXAMPLE / "migration_manifest.json").read_bytes())
    manifest["config_sha256"] = hashlib.sha256(config).hexdigest()
    manifest_bytes = (json.dumps(manifest, indent=2) + "\n").encode()
    key = load_private_key_pem(SIGNER_KEY.read_bytes(), file=str(SIGNER_KEY))
    env = sign_envelope(manifest_bytes, MANIFEST_PAYLOAD_TYPE, [key])
    return Artifacts(manifest_bytes, config, envelope_json(env))


def check_allow(a: Artifacts) -> None:
    """The engine (in this process) must ALLOW these inputs; otherwise the benchmark is invalid."""
    from webhook.pipelines import Engine, MigrationInputs

    engine = Engine.load(trust_dir=TRUST_DIR)
    d = engine.validate_migration(MigrationInputs(a.manifest, a.config, a.signature),
                                  request_id="bench-check")
    if d.decision != "ALLOW":
        raise RuntimeError(f"bench inputs are not ALLOWed by the engine: {d.to_json()}")


def admission_review(a: Artifacts, uid: str = UID_MARKER) -> bytes:
    manifest = json.loads(a.manifest)
    name = f"{manifest['app_id']}-{manifest['version'].replace('.', '-')}"
    obj = {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "MigrationRequest",
        "metadata": {"name": name, "namespace": "payments"},
        "spec": {
            "appId": manifest["app_id"],
            "env": manifest["env"],
            "version": manifest["version"],
            "configSha256": manifest["config_sha256"],
            "config": a.config.decode(),
            "signature": json.loads(a.signature),
        },
    }
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "migrationgate.io", "version": "v1alpha1",
                     "kind": "MigrationRequest"},
            "resource": {"group": "migrationgate.io", "version": "v1alpha1",
                         "resource": "migrationrequests"},
            "name": name,
            "namespace": "payments",
            "operation": "CREATE",
            "userInfo": {"username": "ci-deployer", "groups": ["system:authenticated"]},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
        },
    }
    return json.dumps(review, separators=(",", ":")).encode()


def multipart(a: Artifacts) -> tuple[bytes, str]:
    """(body, content type) with the three parts under the spec's file names."""
    boundary = "bench" + uuid.uuid4().hex
    out = bytearray()
    for name, data, ctype in (("migration_manifest.json", a.manifest, "application/json"),
                              ("app-config.yaml", a.config, "application/yaml"),
                              ("migration_manifest.dsse.json", a.signature, "application/json")):
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{name}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def write_bodies(folder: Path) -> dict[str, Path | str]:
    """Body files for wrk/hey: admission (uid marker), admission-fixed (one uid), multipart."""
    a = artifacts()
    check_allow(a)
    folder.mkdir(parents=True, exist_ok=True)
    review = folder / "admission.json"
    review.write_bytes(admission_review(a))
    fixed = folder / "admission-fixed.json"
    fixed.write_bytes(admission_review(a, uid="0f4b6c1e-bench-fixed-uid"))
    body, ctype = multipart(a)
    mp = folder / "migration.multipart"
    mp.write_bytes(body)
    return {"admission": review, "admission_fixed": fixed, "multipart": mp,
            "multipart_type": ctype, "config_bytes": str(len(a.config))}
