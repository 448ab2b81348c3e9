"""Issue 11 item 9a: one rule for every safety assertion: absent is not safe.

Before, a missing `tls:` section failed tls-required while a missing `security:` section passed
no-root and no-privileged. Now the default is never assumed: each must be stated.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.policies.conftest import good_config, run_t1

ACTION = {"prod": "enforce", "staging": {"no-root": "warn", "no-privileged": "enforce"}}


def without(key: str) -> dict[str, Any]:
    cfg = good_config()
    del cfg[key]
    return cfg


def security(value: Any) -> dict[str, Any]:
    cfg = good_config()
    cfg["security"] = value
    return cfg


def found(cfg: dict[str, Any], env: str) -> list[tuple[str, str, str]]:
    return [(f.policy, f.field, f.action) for f in run_t1(cfg, env)]


@pytest.mark.parametrize("env", ["prod", "staging"])
@pytest.mark.parametrize(
    "cfg", [without("security"), security(None), security({})], ids=["absent", "null", "empty"]
)
def test_missing_security_is_a_finding_like_missing_tls(env: str, cfg: dict[str, Any]) -> None:
    root = "enforce" if env == "prod" else "warn"
    assert found(cfg, env) == [
        ("no-privileged", "security.privileged", "enforce"),
        ("no-root", "security.run_as_root", root),
    ]
    # the rule it now shares with TLS
    assert [f.policy for f in run_t1(without("tls"), env)] == ["tls-required"]


def test_messages_say_what_is_required() -> None:
    privileged, root = run_t1(without("security"), "prod")
    assert privileged.message == "prod requires security.privileged: false (no security section)"
    assert root.message == (
        "prod requires security.run_as_root: false or a non-zero security.run_as_user "
        "(no security section)"
    )


@pytest.mark.parametrize("value", [None, "false", 0])
def test_privileged_must_be_the_boolean_false(value: Any) -> None:
    cfg = security({"privileged": value, "run_as_root": False})
    assert found(cfg, "prod") == [("no-privileged", "security.privileged", "enforce")]


def test_a_non_root_uid_is_the_safe_assertion_too() -> None:
    assert found(security({"privileged": False, "run_as_user": 1000}), "prod") == []


@pytest.mark.parametrize("uid", [0, -1, "1000", True])
def test_without_run_as_root_a_bad_uid_is_both_findings(uid: Any) -> None:
    fields = [f for _, f, _ in found(security({"privileged": False, "run_as_user": uid}), "prod")]
    assert fields == ["security.run_as_root", "security.run_as_user"]


def test_stated_false_passes() -> None:
    assert found(security({"privileged": False, "run_as_root": False}), "prod") == []


def test_capabilities_absent_means_none_added() -> None:
    assert found(security({"privileged": False, "run_as_root": False}), "staging") == []
