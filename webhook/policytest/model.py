"""The suite schema: strict pydantic models (unknown keys, wrong types and bad envs refused)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from webhook.contracts.env import Env
from webhook.pipelines.inputs import (
    ATTESTATION_FILE,
    CONFIG_FILE,
    MANIFEST_FILE,
    MANIFEST_SIGNATURE_FILE,
    REPLICATION_FILE,
    WAL_DIR,
)

API_VERSION = "migrationgate.io/policytest/v1"
KIND = "PolicyTestSuite"
MAX_CASES = 1000
#: files a case may give inline (text); a snapshot is binary, so it comes from an input folder
INLINE_FILES = frozenset(
    {MANIFEST_FILE, CONFIG_FILE, MANIFEST_SIGNATURE_FILE, REPLICATION_FILE, ATTESTATION_FILE}
)

PolicyId = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
PathText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Expect(_Strict):
    """What the decision must be. `reasons`/`warnings`, when given, are exact sets of ids."""

    decision: Literal["ALLOW", "BLOCK"]
    #: each id must be among the findings (a blocking reason, a warning or an audit record)
    present: list[PolicyId] = Field(default_factory=list, max_length=256)
    #: no id may be among the findings
    absent: list[PolicyId] = Field(default_factory=list, max_length=256)
    reasons: list[PolicyId] | None = Field(default=None, max_length=256)
    warnings: list[PolicyId] | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _consistent(self) -> Expect:
        both = sorted(set(self.present) & set(self.absent))
        if both:
            raise ValueError(f"ids both present and absent: {', '.join(both)}")
        if self.decision == "ALLOW" and self.reasons:
            raise ValueError("an ALLOW has no blocking reasons; reasons must be empty")
        if self.decision == "BLOCK" and self.reasons == []:
            raise ValueError("a BLOCK has at least one blocking reason; reasons is empty")
        return self


class Case(_Strict):
    name: Name
    #: an artifact folder, relative to the suite file
    input: PathText | None = None
    #: file name -> text; overrides the folder's file of that name, null removes it
    inputs: dict[str, str | None] | None = Field(default=None, max_length=64)
    scenario: Literal["migration", "replication"] | None = None
    env: Env = "prod"
    bundle: PathText | None = None
    trust_dir: PathText | None = None
    expect: Expect

    @model_validator(mode="after")
    def _has_inputs(self) -> Case:
        if self.input is None and not self.inputs:
            raise ValueError("a case needs an input folder (input) or inline inputs (inputs)")
        for name in self.inputs or {}:
            if name not in INLINE_FILES and not _is_wal(name):
                allowed = ", ".join(sorted(INLINE_FILES))
                raise ValueError(
                    f"inputs: unknown file {name!r} (allowed: {allowed}, {WAL_DIR}/NAME)"
                )
        return self


def _is_wal(name: str) -> bool:
    prefix, _, rest = name.partition("/")
    return prefix == WAL_DIR and bool(rest) and "/" not in rest and rest not in (".", "..")


class Suite(_Strict):
    api_version: Literal["migrationgate.io/policytest/v1"] = Field(alias="apiVersion")
    kind: Literal["PolicyTestSuite"]
    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    #: the bundle every case runs with unless it names its own (default: the built-in bundle)
    bundle: PathText | None = None
    trust_dir: PathText | None = None
    cases: list[Case] = Field(min_length=1, max_length=MAX_CASES)
