"""The one env type and rule (webhook/contracts/env.py) that every layer imports."""

from __future__ import annotations

from typing import get_args

import pytest

from webhook.contracts.env import ENVS, Env, door_env


def test_envs_list_the_type_in_order() -> None:
    assert ENVS == get_args(Env) == ("prod", "staging")


@pytest.mark.parametrize(
    ("value", "env"),
    [
        ("staging", "staging"),
        ("prod", "prod"),
        ("Staging", "prod"),  # only the exact spelling loosens the rules
        (" staging", "prod"),
        ("", "prod"),
        (None, "prod"),
        (b"staging", "prod"),
    ],
)
def test_anything_but_exactly_staging_is_prod(value: object, env: str) -> None:
    assert door_env(value) == env


def test_the_old_homes_are_the_same_objects() -> None:
    from webhook.policies import context  # the re-export for importers not yet switched

    assert (context.ENVS, context.Env, context.door_env) == (ENVS, Env, door_env)
