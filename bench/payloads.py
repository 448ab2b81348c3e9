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


def artifacts(release: int | None = None) -> Artifacts:
    """The B1 inputs; `release` n makes the n-th distinct object: version 4.2.n and a config
    whose first comment names it, so every byte the engine reads (config, its hash, the signed
    manifest, the signature) differs from every other release's while the decision stays ALLOW."""
    from webhook.contracts.models import MANIFEST_PAYLOAD_TYPE
    from webhook.integrity import envelope_json, load_private_key_pem, sign_envelope

    config = padded_config()
    manifest = json.loads((EXAMPLE / "migration_manifest.json").read_bytes())
    if release is not None:
        manifest["version"] = f"4.2.{release}"
        head = f"# release 4.2.{release}\n".encode()
        config = head + config[: len(config) - len(head)]
        if not config.endswith(b"\n"):
            config = config[:-1] + b"\n"
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


def multipart(a: Artifacts, boundary: str | None = None) -> tuple[bytes, str]:
    """(body, content type) with the three parts under the spec's file names."""
    boundary = boundary or "bench" + uuid.uuid4().hex
    out = bytearray()
    for name, data, ctype in (("migration_manifest.json", a.manifest, "application/json"),
                              ("app-config.yaml", a.config, "application/yaml"),
                              ("migration_manifest.dsse.json", a.signature, "application/json")):
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{name}\"\r\nContent-Type: {ctype}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


#: separates bodies in a many-bodies file (bench/lua/post.lua); never inside a body
SEPARATOR = b"\n@@NEXT-BODY@@\n"
#: distinct objects per many-bodies file: more than the decision cache (256 entries) and the
#: engine's input cache (1024 entries, 3 per request) hold, so cycling through them never hits
DISTINCT = 2048
MULTIPART_BOUNDARY = "bench0d1st1nct0b0undary0f0r0every0b0dy"


def write_many(folder: Path, n: int = DISTINCT) -> dict[str, Path | str]:
    """n distinct signed objects as AdmissionReviews and as multipart uploads, one file each.

    Cached by content of the generator inputs (the example, the key, n); a few are checked
    ALLOW by the engine (every one is signed the same way)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = hashlib.sha256(
        (EXAMPLE / "migration_manifest.json").read_bytes() + (EXAMPLE / "app-config.yaml")
        .read_bytes() + SIGNER_KEY.read_bytes() + str(n).encode() + Path(__file__).read_bytes()
    ).hexdigest()[:16]
    review, mp = folder / f"admission-{stamp}.many", folder / f"multipart-{stamp}.many"
    ctype = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"
    if not (review.exists() and mp.exists()):
        sets = [artifacts(i) for i in range(n)]
        for i in (0, n // 2, n - 1):
            check_allow(sets[i])
        reviews = [admission_review(a) for a in sets]
        parts = [multipart(a, MULTIPART_BOUNDARY)[0] for a in sets]
        for body in (*reviews, *parts):
            if SEPARATOR in body:
                raise RuntimeError("a bench body holds the separator")
        review.write_bytes(SEPARATOR.join(reviews))
        mp.write_bytes(SEPARATOR.join(parts))
    return {"admission_many": review, "multipart_many": mp, "multipart_many_type": ctype,
            "distinct": str(n)}


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
            "multipart_type": ctype, "config_bytes": str(len(a.config)), **write_many(folder)}
