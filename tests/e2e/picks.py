"""Choosing representative examples for the behaviour tests, by what they are, not by name only."""

from __future__ import annotations

import copy
import secrets
from typing import Any

import pytest

from .objects import SCHEMA_POLICIES, Example


def good_migration(examples: list[Example]) -> Example:
    """A signed prod migration that must be admitted with no warnings (t1_good)."""
    for ex in examples:
        if ex.name == "t1_good":
            return ex
    pytest.fail("examples/t1_good (an ALLOW migration example) is required by the e2e tests")


def bad_migration(examples: list[Example]) -> Example:
    """A BLOCK migration the gate (not a CRD schema) must deny, preferring a policy violation."""
    candidates = [
        ex
        for ex in examples
        if ex.scenario == "migration"
        and ex.expected.decision == "BLOCK"
        and not set(ex.expected.policies) <= SCHEMA_POLICIES
    ]
    if not candidates:
        pytest.fail("no BLOCK migration example beyond input errors under examples/")
    for ex in candidates:
        if ex.name == "t1_bad_tls_disabled":
            return ex
    return candidates[0]


def renamed(obj: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A copy under a fresh name, so each test owns its objects."""
    out = copy.deepcopy(obj)
    out["metadata"]["name"] = f"{prefix}-{secrets.token_hex(3)}"
    return out
