"""`pin`: write app-config.yaml's SHA-256 into migration_manifest.json as `config_sha256`.

The manifest is rewritten as JSON (2-space indent, keys in their order), atomically. A signed
manifest (its `.dsse.json` beside it) is refused unless the caller re-signs it right after: a
pinned manifest whose old signature no longer matches would only BLOCK later, far from the cause.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from webhook.artifacts import read_limited
from webhook.atomicfile import write_atomic
from webhook.contracts.limits import DEFAULT_LIMITS
from webhook.errors import InputError, UsageError
from webhook.pipelines.inputs import CONFIG_FILE, MANIFEST_FILE, MANIFEST_SIGNATURE_FILE

PREFIX = "sha256:"


@dataclass(frozen=True)
class Pinned:
    manifest: Path
    digest: str
    change: str  # "set", "updated" or "unchanged"
    signed: bool  # a signature exists and must be re-made


def _read(path: Path) -> bytes:
    """The whole file, or an error: a hash of a truncated read would pin the wrong bytes."""
    data = read_limited(path)
    if data is None:
        raise UsageError("no such file", file=str(path))
    if len(data) > DEFAULT_LIMITS.max_bytes:
        raise InputError(f"larger than the {DEFAULT_LIMITS.max_bytes}-byte limit", file=str(path))
    return data


def pin_config(folder: Path, *, resign: bool) -> Pinned:
    """Set `config_sha256` to the hash of the config's exact bytes (hex, `sha256:` kept if used)."""
    manifest_path = folder / MANIFEST_FILE
    raw = _read(manifest_path)
    config = _read(folder / CONFIG_FILE)
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", file=str(manifest_path)) from None
    if not isinstance(manifest, dict):
        raise InputError("expected a JSON object", file=str(manifest_path))
    old = manifest.get("config_sha256")
    hexdigest = hashlib.sha256(config).hexdigest()
    digest = PREFIX + hexdigest if isinstance(old, str) and old.startswith(PREFIX) else hexdigest
    signed = (folder / MANIFEST_SIGNATURE_FILE).exists()
    if old == digest:
        return Pinned(manifest_path, digest, "unchanged", signed=False)
    if signed and not resign:
        raise UsageError(
            f"is signed ({MANIFEST_SIGNATURE_FILE}): pinning changes its bytes and breaks that "
            "signature; pass --key KEY to re-sign it, or remove the signature first",
            file=str(manifest_path),
        )
    change = "set" if old is None else "updated"
    manifest["config_sha256"] = digest
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    write_atomic(manifest_path, text.encode(), mode=0o644)
    return Pinned(manifest_path, digest, change, signed=signed)
