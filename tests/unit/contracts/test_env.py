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


def test_env_is_defined_once() -> None:
    """No module of webhook/ spells the envs out again: each imports contracts.env."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "webhook"
    spelt = re.compile(r"""[(\[]\s*["'](prod|staging)["']\s*,\s*["'](prod|staging)["']\s*[)\]]""")
    again = [str(p.relative_to(root)) for p in root.rglob("*.py")
             if p.name != "env.py" and spelt.search(p.read_text(encoding="utf-8"))]  # fmt: skip
    assert again == []
