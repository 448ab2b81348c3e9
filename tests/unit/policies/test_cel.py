"""CEL policies in the bundle: compiled once at load, evaluated per request, failing closed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from webhook.contracts.decision import Reason
from webhook.errors import ConfigError, DeadlineExceeded
from webhook.policies import PolicyContext, evaluate, load_bundle
from webhook.policies import cel as celmod
from webhook.policies.bundle import PolicyBundle

HEAD = "apiVersion: migrationgate.io/policy/v1\nkind: PolicyBundle\npolicies:\n"
SSH = """\
  - id: no-ssh-port
    severity: high
    scenarios: [T1]
    expression: '!config.ports.exists(p, p.port == 22)'
    message: port 22 must not be exposed
    field: ports
    actions: {prod: enforce, staging: warn}
"""


def entry(expression: str, *, pid: str = "custom", extra: str = "", scen: str = "T1") -> str:
    quoted = expression.replace("'", "''")
    return (
        f"  - id: {pid}\n    severity: high\n    scenarios: [{scen}]\n"
        f"    expression: '{quoted}'\n    actions: {{prod: enforce, staging: warn}}\n{extra}"
    )


def bundle(*entries: str) -> PolicyBundle:
    return load_bundle((HEAD + "".join(entries)).encode(), source="b.yaml")


def refused(*entries: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        bundle(*entries)
    return info.value


def run(b: PolicyBundle, config: Any, env: str = "prod", **kw: Any) -> list[Any]:
    return evaluate(b, PolicyContext(scenario="T1", env=env, config=config, **kw))


# ---- load time: compile once, errors named with the policy id and position ----


def test_the_issue_example_loads_and_blocks_port_22() -> None:
    b = bundle(SSH)
    (f,) = run(b, {"ports": [{"port": 22}]})
    assert (f.policy, f.check, f.action, f.field, f.message, f.file) == (
        "no-ssh-port",
        "cel",
        "enforce",
        "ports",
        "port 22 must not be exposed",
        "app-config.yaml",
    )
    assert run(b, {"ports": [{"port": 443}]}) == []


def test_a_syntax_error_names_the_policy_the_field_and_the_position() -> None:
    err = refused(SSH, entry("config.ports.exists(p, "))
    assert err.field == "policies[1].expression"
    assert "policy 'custom'" in err.message
    assert "line 1, column 24" in err.message


def test_a_syntax_error_on_a_later_line_names_that_line() -> None:
    block = (
        "  - id: multi\n    severity: high\n    scenarios: [T1]\n"
        "    actions: {prod: enforce, staging: warn}\n"
        "    expression: |-\n      config.a == 1 &&\n        config.b == )\n"
    )
    assert "line 2, column 15" in refused(block).message


def test_an_undeclared_variable_is_refused_at_load_with_its_position() -> None:
    err = refused(entry("config.a == 1 && archive.members > 0"))
    assert "undeclared variable 'archive'" in err.message
    assert "line 1, column 18" in err.message
    # config is T1's: a T2 policy may not read it
    assert "undeclared variable 'config'" in refused(entry("config.a", scen="T2")).message


def test_comprehension_variables_and_type_names_are_not_undeclared() -> None:
    bundle(entry("config.ports.all(p, type(p.port) == int && p.port > 0)"))


def test_an_unknown_function_is_refused_at_load() -> None:
    err = refused(entry("config.name.lowerAscii() == 'x'"))
    assert "unknown function 'lowerAscii'" in err.message


def test_check_and_expression_together_are_refused() -> None:
    err = refused(entry("true", extra="    check: tls-required\n"))
    assert err.field == "policies[0].expression"
    assert "exactly one of check and expression" in err.message


def test_ids_may_not_reuse_a_builtin_reason_or_check_name() -> None:
    assert "reason id" in refused(entry("true", pid="config-hash-mismatch")).message
    assert "built-in check" in refused(entry("true", pid="tls-required")).message


def test_params_are_not_accepted_on_a_cel_policy() -> None:
    err = refused(entry("true", extra="    params: {a: 1}\n"))
    assert err.field == "policies[0].params"


def test_critical_is_reserved_for_integrity_checks() -> None:
    err = refused(entry("true").replace("severity: high", "severity: critical"))
    assert err.field == "policies[0].severity"


def test_an_over_long_expression_is_refused_at_load() -> None:
    long = " || ".join(["config.a == 1"] * 200)
    assert len(long) > celmod.MAX_EXPRESSION_CHARS
    assert "cost bound" in refused(entry(long)).message


def test_comprehensions_nested_past_the_bound_are_refused_at_load() -> None:
    two = "config.a.all(x, config.a.all(y, x == y))"
    bundle(entry(two))
    three = "config.a.all(x, config.a.all(y, config.a.exists(z, x == z)))"
    err = refused(entry(three))
    assert "nests comprehensions 3 deep" in err.message
    assert "column 48" in err.message
    # a macro name inside a string literal is not a comprehension
    bundle(entry("config.a.all(x, config.a.all(y, '.map(' != '.all(z, .filter('))"))


def test_compiled_once_at_load_not_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    b = bundle(SSH)

    def boom(_src: str) -> None:
        raise AssertionError("compiled again")

    import cel

    monkeypatch.setattr(cel, "compile", boom)
    for _ in range(3):
        run(b, {"ports": []})


def test_cel_is_imported_only_when_a_cel_policy_compiles() -> None:
    """The library loads its own CLI (~0.13 s): a gate without CEL policies never pays for it."""
    import subprocess
    import sys

    code = (
        "import sys; from webhook.policies.bundle import default_bundle\n"
        "default_bundle()\n"
        "print('cel' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_digest_covers_the_expression() -> None:
    a = bundle(SSH).digest
    b = bundle(SSH.replace("p.port == 22", "p.port == 23")).digest
    assert a != b
    assert bundle(SSH).digest == a


# ---- evaluation: fail closed ----


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({}, "no such key 'ports'"),
        ({"ports": "22"}, "TypeError"),
        ({"ports": [{"port": 2**64}]}, "beyond CEL's 64-bit int"),
    ],
)
@pytest.mark.parametrize("env", ["prod", "staging"])
def test_an_evaluation_error_is_an_enforce_finding_in_every_env(
    config: Any, needle: str, env: str
) -> None:
    (f,) = run(bundle(SSH), config, env=env)
    assert f.action == "enforce" and f.policy == "no-ssh-port"
    assert "could not be evaluated" in f.message and needle in f.message


@pytest.mark.parametrize("expression", ["1", "config.ports", "null", "'true'"])
def test_a_non_bool_result_is_an_enforce_finding(expression: str) -> None:
    (f,) = run(bundle(entry(expression)), {"ports": []}, env="staging")
    assert f.action == "enforce"
    assert "must give a bool" in f.message


def test_division_by_zero_and_overflow_fail_closed() -> None:
    for expression in ("config.n / 0 == 1", "config.n + 9223372036854775807 > 0"):
        (f,) = run(bundle(entry(expression)), {"n": 1})
        assert f.action == "enforce", expression


def test_a_missing_config_is_a_finding() -> None:
    (f,) = run(bundle(SSH), None)
    assert f.policy == "no-ssh-port" and "not evaluated" in f.message


def test_the_deadline_holds_between_cel_policies() -> None:
    b = bundle(SSH, entry("true", pid="second"))
    ticks = iter([0.0, 10.0, 10.0])
    with pytest.raises(DeadlineExceeded, match="second"):
        evaluate(
            b,
            PolicyContext(scenario="T1", env="prod", config={"ports": []}),
            deadline=5.0,
            clock=lambda: next(ticks),
        )


# ---- message, messageExpression, field, actions ----


def test_message_expression_builds_the_message_from_the_inputs() -> None:
    b = bundle(
        entry(
            "config.replicas >= 2",
            extra="    messageExpression: \"'needs 2 replicas, has ' + string(config.replicas)\"\n"
            "    field: replicas\n",
        )
    )
    (f,) = run(b, {"replicas": 1})
    assert (f.message, f.field) == ("needs 2 replicas, has 1", "replicas")


def test_message_expression_is_capped_and_redacted() -> None:
    token = "ghp_" + "A1b2C3d4" * 5
    b = bundle(entry("false", extra="    messageExpression: 'config.t + config.pad'\n"))
    (f,) = run(b, {"t": token, "pad": "x" * 5000})
    assert len(f.message) <= celmod.MAX_MESSAGE_CHARS
    # the Reason the pipeline builds from the finding (Report.add_findings) never carries it
    reason = Reason(
        policy=f.policy,
        severity=f.severity,
        field=f.field,
        message=f.message,
        file=f.file,
        action=f.action,
    )
    assert token not in reason.message


def test_message_expression_that_fails_is_an_enforce_finding() -> None:
    b = bundle(entry("false", extra="    messageExpression: 'config.missing'\n"))
    (f,) = run(b, {}, env="staging")
    assert f.action == "enforce" and "no such key 'missing'" in f.message
    b = bundle(entry("false", extra="    messageExpression: '1'\n"))
    (f,) = run(b, {}, env="staging")
    assert f.action == "enforce" and "must give a string" in f.message


def test_message_and_message_expression_together_are_refused() -> None:
    err = refused(entry("true", extra="    message: a\n    messageExpression: \"'b'\"\n"))
    assert err.field == "policies[0].message"


def test_per_env_actions() -> None:
    b = bundle(SSH)
    bad = {"ports": [{"port": 22}]}
    assert [f.action for f in run(b, bad, env="prod")] == ["enforce"]
    assert [f.action for f in run(b, bad, env="staging")] == ["warn"]
    off = bundle(SSH.replace("staging: warn", 'staging: "off"'))
    assert run(off, bad, env="staging") == []


# ---- variables ----


def test_t1_variables_manifest_subject_env() -> None:
    b = bundle(
        entry("manifest.version.startsWith('4.') && subject.app_id == 'payments' && env == 'prod'")
    )
    ctx = dict(manifest={"version": "4.2.0"}, subject={"app_id": "payments"})
    assert run(b, {}, **ctx) == []
    assert len(run(b, {}, env="staging", **ctx)) == 1
    assert len(run(b, {}, manifest={"version": "5.0"}, subject={"app_id": "payments"})) == 1


def test_t1_policy_without_config_runs_when_config_is_missing() -> None:
    b = bundle(entry("env == 'prod'"))
    assert run(b, None) == []


def test_t2_variables_archive_and_statement() -> None:
    b = bundle(
        entry(
            "archive.members < 100 && statement != null && statement.subject.size() > 0",
            scen="T2",
        )
    )

    def t2(**kw: Any) -> list[Any]:
        return evaluate(b, PolicyContext(scenario="T2", env="prod", config=None, **kw))

    assert t2(archive={"members": 3}, statement={"subject": [{"name": "s"}]}) == []
    (f,) = t2(archive={"members": 3}, statement=None)
    assert f.action == "enforce" and f.file == "replication_manifest.yaml"
    # an error is absorbed only where CEL's && / || say so (false && error is false)
    (f,) = t2(archive=None, statement={"subject": [{"name": "s"}]})
    assert f.action == "enforce" and "could not be evaluated" in f.message


def test_cel_policies_are_skipped_for_the_other_scenario() -> None:
    b = bundle(entry("false", scen="T2"))
    assert run(b, {}) == []


def test_the_documented_cel_example_loads_and_its_error_message_is_real() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "policies.md").read_text()
    section = doc.split("## CEL policies", 1)[1]
    example = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)[0]
    b = bundle(example)
    assert tuple(p.id for p in b.policies) == ("no-ssh-port",)
    (f,) = run(b, {"ports": [{"port": 22}]})
    assert f.message == "port 22 must not be exposed"
