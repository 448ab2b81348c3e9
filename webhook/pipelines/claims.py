"""What the door establishes and the artifact may only repeat: the target env and trust.

The env a decision is for comes from the door (admission path, API token or field, CLI --env),
never from the unsigned artifact: an artifact that claims another env is refused outright, so
writing `env: staging` cannot select staging's weaker actions for a prod target. Pure functions:
each returns the reasons it finds, the pipeline records them.
"""

from __future__ import annotations

from collections.abc import Mapping

from webhook.contracts.decision import Reason
from webhook.contracts.env import ENVS, Env

TRUST_HELP = (
    "no trusted keys are configured, so no signature can verify and prod cannot be gated: "
    "pass --trust-dir DIR (or set MIGRATION_GATE_TRUST_DIR; in the chart, trustedKeys or "
    "trustedKeysExistingSecret) naming a directory with at least one trusted PEM public key"
)


def env_claim(claimed: object, *, door: Env, file: str, field: str = "env") -> list[Reason]:
    """`env-mismatch` when an artifact's env names another env than the door's.

    Only a well-formed claim ("prod"/"staging") is compared here; any other value is the
    schema's finding (input-invalid), named once.
    """
    if claimed not in ENVS or claimed == door:
        return []
    return [
        Reason(
            policy="env-mismatch",
            severity="high",
            field=field,
            file=file,
            message=(
                f"{file} claims env {claimed!r} but this request came through the {door} door; "
                "the door sets the target env, an artifact may only repeat it"
            ),
        )
    ]


def env_field(doc: object, *, door: Env, file: str, field: str = "env") -> list[Reason]:
    """`env_claim` of a parsed document's top-level `field` (absent claims nothing)."""
    if not isinstance(doc, Mapping) or field not in doc:
        return []
    return env_claim(doc[field], door=door, file=file, field=field)


def trust_configured(env: Env, trusted_keys: int) -> list[Reason]:
    """`trust-store-empty` for a prod decision with no trusted key: prod needs a signature."""
    if env != "prod" or trusted_keys > 0:
        return []
    return [
        Reason(
            policy="trust-store-empty",
            severity="critical",
            field="trust",
            file=None,
            message=TRUST_HELP,
        )
    ]
