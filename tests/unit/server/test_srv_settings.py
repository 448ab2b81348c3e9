"""ServerSettings: flag > env > default, typed conversion, precise errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from webhook.errors import ConfigError
from webhook.server.flags import register
from webhook.server.settings import GIB, MIB, ServerSettings


def parse(argv: list[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--policy", default=None)
    common.add_argument("--trust-dir", default=None)
    common.add_argument("--audit-db", default=None)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    register(sub, common)
    return parser.parse_args(["serve", *argv])


def test_defaults() -> None:
    s = ServerSettings.from_args(parse([]), environ={})
    assert (s.admission_port, s.api_port, s.metrics_port) == (8443, 8080, 9090)
    assert s.host == "127.0.0.1"
    assert s.cert_path == Path(".state/tls/server.crt")
    assert s.audit_db_path == Path(".state/audit.db")
    assert s.token_file is None  # run.py then uses STATE_DIR/operator-tokens.sha256
    assert s.max_body == 4 * MIB and s.max_upload == 8 * GIB
    assert s.admission_deadline == 8.0 and not s.api_tls and s.dev_tls


def test_flag_beats_env_beats_default() -> None:
    env = {
        "MIGRATION_GATE_API_PORT": "18080",
        "MIGRATION_GATE_ADMISSION_PORT": "18443",
        "MIGRATION_GATE_API_TLS": "true",
        "MIGRATION_GATE_MAX_BODY": "1MiB",
        "MIGRATION_GATE_POLICY": "/etc/gate/policy.yaml",
    }
    s = ServerSettings.from_args(
        parse(["--api-port", "28080", "--dns-name", "a.svc", "--dns-name", "b.svc,c.svc"]),
        environ=env,
    )
    assert s.api_port == 28080
    assert s.admission_port == 18443
    assert s.api_tls is True
    assert s.max_body == MIB
    assert s.policy == Path("/etc/gate/policy.yaml")
    assert s.dns_names == ("a.svc", "b.svc", "c.svc")


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        ServerSettings.from_args(parse([]), environ={"MIGRATION_GATE_API_TLS": "maybe"})
    assert "MIGRATION_GATE_API_TLS" in err.value.diagnostics()
    assert "maybe" in err.value.diagnostics()


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["--api-port", "8443"], "ports"),
        (["--cert", "/x.crt"], "cert"),
        (["--admission-deadline", "0"], "admission_deadline"),
        (["--admission-port", "70000"], "admission_port"),
    ],
)
def test_invalid_combinations(argv: list[str], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        ServerSettings.from_args(parse(argv), environ={})
    assert err.value.field == field


def test_keep_alive_outlives_the_apiserver_idle_timeout() -> None:
    """kube-apiserver keeps idle webhook connections 90 s: the gate must not close them first."""
    from webhook.server.run import Listener, _config

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    default = ServerSettings.from_args(parse([]), environ={})
    assert default.keep_alive > 90
    assert _config(default, Listener("metrics", app, 0, None)).timeout_keep_alive == 120
    tuned = ServerSettings.from_args(parse(["--keep-alive", "300"]), environ={})
    assert _config(tuned, Listener("metrics", app, 0, None)).timeout_keep_alive == 300
    with pytest.raises(ConfigError) as err:
        ServerSettings.from_args(parse([]), environ={"MIGRATION_GATE_KEEP_ALIVE": "0"})
    assert "keep_alive" in err.value.diagnostics()
