"""Strict models of the gate's input artifacts (field reference: docs/artifacts.md).

Models are validated from already-parsed data (see `strict.py`); `validate()` turns pydantic's
errors into `(field, message)` pairs that read like a linter and name the exact field. Declared
digests follow the one rule of `digests.py`: `config_sha256` is checked here, the replication
manifest's digests by the T2 pipeline's schema step (which reports them with the same parser).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from webhook.contracts.digests import parse_digest
from webhook.contracts.env import Env
from webhook.contracts.redact import redact_text
from webhook.contracts.secret_shapes import is_secret_key
from webhook.errors import InputError

DnsLabel = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]


def _sha256_digest(value: str) -> str:
    """`sha256:<hex>` or the bare 64 hex (the field's name says sha256); md5/sha1 pass here and
    are refused as outdated hashing by the weak-hash policy and the pipeline."""
    try:
        parse_digest(value, file="", field="", algorithm="sha256")
    except InputError as exc:
        raise PydanticCustomError("digest_format", exc.message) from None
    return value


#: a SHA-256 digest declared by a field whose name says sha256 (docs/artifacts.md, "Digests")
Sha256Digest = Annotated[str, AfterValidator(_sha256_digest)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=256)]
WalName = Annotated[str, StringConstraints(pattern=r"^[0-9A-F]{24}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class MigrationManifest(_Strict):
    """migration_manifest.json: what is being migrated and the hash of its exact config bytes."""

    app_id: DnsLabel
    env: Env
    version: NonEmpty
    config_sha256: Sha256Digest


class TlsSettings(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    enabled: bool | None = None
    min_version: str | None = None


class Port(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    name: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)]
    bind: str | None = None
    exposure: Literal["internal", "public"] | None = None


class SecuritySettings(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    run_as_root: bool | None = None
    run_as_user: int | None = None
    privileged: bool | None = None
    capabilities: list[str] | None = None


class AppConfig(BaseModel):
    """app-config.yaml: typed where the gate reads it; unknown keys kept for policies to inspect.

    Security fields are optional here so that a missing one is reported by the policy that
    requires it (with its own id), not as a generic schema error.
    """

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    app_id: DnsLabel
    env: Env
    tls: TlsSettings | None = None
    ports: list[Port] | None = None
    secrets_ref: str | None = None
    security: SecuritySettings | None = None


class WalFile(_Strict):
    name: WalName
    sha256: str


class ReplicationManifest(_Strict):
    """replication_manifest.yaml: what a replication moves and the digests it must have."""

    source_db: NonEmpty
    target_db: NonEmpty
    expected_snapshot_hash: NonEmpty
    sync_mode: Literal["full", "incremental", "continuous"]
    wal_files: list[WalFile] | None = None
    #: not in the spec's list; optional. The door sets the env; a claim must equal it
    env: Env | None = None


class ResourceDescriptor(_Strict):
    name: NonEmpty
    digest: dict[str, str]


class ReplicationPredicate(_Strict):
    """What the signer vouches for; `env` binds the statement to one door's env (required)."""

    source_db: NonEmpty
    target_db: NonEmpty
    sync_mode: Literal["full", "incremental", "continuous"]
    created: str
    expires: str
    env: Env


STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
REPLICATION_PREDICATE = "https://migrationgate.io/replication/v1"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MANIFEST_PAYLOAD_TYPE = "application/vnd.migrationgate.migration-manifest+json"


class InTotoStatement(BaseModel):
    """in-toto Statement v1 carrying the replication predicate (the signed snapshot)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    type_: Literal["https://in-toto.io/Statement/v1"] = Field(alias="_type")
    subject: Annotated[list[ResourceDescriptor], Field(min_length=1)]
    predicateType: Literal["https://migrationgate.io/replication/v1"]
    predicate: ReplicationPredicate


M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    """`('ports', 1, 'bind')` -> `ports[1].bind`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def _shown(found: Any, loc: tuple[int | str, ...]) -> str:
    """The offending input as a message may show it: never under a secret-named key, capped."""
    if isinstance(found, dict | list):
        return type(found).__name__
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if last and is_secret_key(last):
        return f"a literal value ({len(found)} chars)" if isinstance(found, str) else "a literal"
    return redact_text(repr(found))


def _describe(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    shown = _shown(err.get("input"), tuple(err.get("loc", ())))
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (the contract is strict)"
    if kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        return f"must be {expected} (found {shown})"
    if kind == "digest_format":
        return f"{err.get('msg', 'malformed digest')} (found {shown})"
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        return f"does not match {pattern} (found {shown})"
    return f"{err.get('msg', 'invalid')} (found {shown})"


def validate(model: type[M], data: Any) -> tuple[M | None, list[tuple[str, str]]]:
    """Validate data against a model; return (model or None, [(field, message), ...])."""
    if not isinstance(data, dict):
        return None, [
            ("(document)", f"expected a mapping at top level, found {type(data).__name__}")
        ]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = [(field_path(tuple(e["loc"])), _describe(e)) for e in exc.errors()]
        return None, problems
