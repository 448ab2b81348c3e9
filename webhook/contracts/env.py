"""The target env: its one type, its values, and the one rule a door's value is read by.

Lowest layer so every user (models, policies, pipelines, doors, CLI) imports the same names.
"""

from __future__ import annotations

from typing import Final, Literal

Env = Literal["prod", "staging"]
#: every env, in the order scopes, metrics and bundles list them
ENVS: Final[tuple[Env, ...]] = ("prod", "staging")


def door_env(value: object) -> Env:
    """The env a value names: "staging" only when said exactly, anything else is "prod".

    The door (admission path, API token or field, CLI --env) establishes the target env, never
    the artifact; an unknown or misspelt value can only make the rules stricter.
    """
    return "staging" if value == "staging" else "prod"
