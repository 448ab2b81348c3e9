"""What a check may look at: the parsed config, signature facts and declared hash algorithms.

The pipeline builds one `PolicyContext` per request from inputs it has already parsed and verified;
checks read it and never touch files, so the same context always yields the same findings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from webhook.contracts.decision import Scenario
from webhook.contracts.env import Env, door_env

__all__ = ["PolicyContext", "SignatureFacts"]


@dataclass(frozen=True)
class SignatureFacts:
    """The outcome of signature verification, as far as policies need it.

    `present` means an envelope was supplied; whether it verified is the pipeline's own
    always-blocking `signature-invalid` reason, so policies only decide whether one is required.
    """

    present: bool
    verified: bool
    trust_configured: bool
    signers: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class PolicyContext:
    """Everything a check may read for one request.

    `env` is taken as given; anything other than "staging" is evaluated as "prod" (strictest), so
    an unknown or misspelt env can never loosen the rules. `config` is None for T2, or for T1 when
    app-config.yaml could not be parsed into a mapping. `hashes` maps a field path such as
    "wal_files[0].sha256" to its declared algorithm ("sha256", ..., "md5", "unprefixed").
    """

    scenario: Scenario
    env: str
    config: Mapping[str, Any] | None
    config_file: str = "app-config.yaml"
    signature: SignatureFacts = SignatureFacts(False, False, False)
    hashes: Mapping[str, str] = field(default_factory=dict)
    hash_file: str = "replication_manifest.yaml"
    #: CEL variables (docs/policies.md): the parsed manifest, the decision's subject, and for T2
    #: the archive report and the verified in-toto statement; None when the pipeline has none
    manifest: Mapping[str, Any] | None = None
    subject: Mapping[str, str] = field(default_factory=dict)
    archive: Mapping[str, Any] | None = None
    statement: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        # a read-only copy: a check cannot change what the next check sees
        object.__setattr__(self, "hashes", MappingProxyType(dict(self.hashes)))
        object.__setattr__(self, "subject", MappingProxyType(dict(self.subject)))

    def cel_variables(self) -> dict[str, Any]:
        """What a CEL expression of this scenario may name (see webhook.policies.cel)."""
        common = {"manifest": self.manifest, "subject": self.subject, "env": self.effective_env}
        if self.scenario == "T1":
            return {"config": self.config, **common}
        return {"archive": self.archive, "statement": self.statement, **common}

    @cached_property
    def cel_activation(self) -> Any:
        """The CEL context, converted once per request and shared by every CEL policy."""
        from webhook.policies.cel import activation  # noqa: PLC0415  (only CEL policies ask)

        return activation(self.cel_variables())

    @property
    def effective_env(self) -> Env:
        """The env the rules are chosen for: "staging" only when said exactly, else "prod"."""
        return door_env(self.env)
