"""Shared inputs for policy tests: a compliant app-config.yaml and default-bundle runners."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from webhook.policies import (
    REGISTRY,
    Finding,
    PolicyContext,
    SignatureFacts,
    default_bundle,
    evaluate,
)

GOOD_CONFIG = """\
app_id: payments
env: prod
tls: {enabled: true, min_version: "1.2"}
ports:
  - {name: https, port: 8443, bind: 127.0.0.1, exposure: internal}
secrets_ref: vault://kv/payments/prod
security: {run_as_root: false, privileged: false, capabilities: []}
"""


def good_config() -> dict[str, Any]:
    """A fresh, fully compliant config (parsed from YAML text, as the pipeline would)."""
    data = yaml.safe_load(GOOD_CONFIG)
    assert isinstance(data, dict)
    return data


def config_with(yaml_patch: str) -> dict[str, Any]:
    """The good config with top-level keys replaced by those in `yaml_patch` (YAML text).

    A `security` mapping is overlaid on the compliant one instead, so a patch changes one
    assertion: an absent security field is itself a finding (issue 11, fail closed).
    """
    cfg = good_config()
    patch = yaml.safe_load(yaml_patch)
    assert isinstance(patch, dict)
    security = patch.get("security")
    if isinstance(security, dict):
        patch["security"] = {**cfg["security"], **security}
    cfg.update(patch)
    return cfg


def run_t1(
    config: dict[str, Any] | None,
    env: str,
    *,
    trust: bool = False,
    signed: bool = True,
) -> list[Finding]:
    ctx = PolicyContext(
        scenario="T1",
        env=env,
        config=config,
        signature=SignatureFacts(present=signed, verified=signed, trust_configured=trust),
    )
    return evaluate(default_bundle(), ctx)


def run_t2(
    hashes: dict[str, str], env: str, *, trust: bool = False, signed: bool = True
) -> list[Finding]:
    ctx = PolicyContext(
        scenario="T2",
        env=env,
        config=None,
        signature=SignatureFacts(present=signed, verified=signed, trust_configured=trust),
        hashes=hashes,
    )
    return evaluate(default_bundle(), ctx)


@pytest.fixture
def scratch_checks() -> Iterator[list[str]]:
    """Names appended here are unregistered after the test, so the global registry stays clean."""
    names: list[str] = []
    yield names
    for name in names:
        if name in REGISTRY:
            REGISTRY.unregister(name)
