"""docker-compose.yml: valid against the Compose Specification's JSON schema (vendored), and
the isolation rules hold in the parsed file. There is no container engine here: this is the
file's only test, it is never run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from webhook.audit.target import PostgresTarget, parse_target

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = Path(__file__).resolve().parent / "compose" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    value: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return value


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(compose)


def test_the_schema_is_strict_enough_to_fail() -> None:
    """A misspelt service key is refused: the validation above can fail."""
    schema = json.loads(SCHEMA.read_text())
    bad = {"services": {"gate": {"image": "x", "read_onyl": True}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(bad)


def test_database_only_on_an_internal_network(compose: dict[str, Any]) -> None:
    services, networks = compose["services"], compose["networks"]
    assert services["db"]["networks"] == ["backend"]
    assert networks["backend"]["internal"] is True
    assert not networks["frontend"].get("internal")
    assert "ports" not in services["db"] and "expose" not in services["db"]
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"gate"}
    assert "frontend" in services["gate"]["networks"]
    # only the gate reaches both networks; nothing else sits on the frontend
    assert {n for n, s in services.items() if "frontend" in s.get("networks", [])} == {"gate"}
    metrics = [p for p in services["gate"]["ports"] if str(p).endswith(":9090")]
    assert metrics == ["127.0.0.1:9090:9090"]


def test_every_service_is_non_root_read_only_and_capability_free(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        user = str(svc.get("user", ""))
        assert user and user.split(":", maxsplit=1)[0] not in ("0", "root"), name
        assert svc.get("read_only") is True, name
        assert svc.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert not svc.get("privileged"), name
        assert svc.get("network_mode") != "host", name


def test_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("db", "gate"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert "/readyz" in " ".join(services["gate"]["healthcheck"]["test"])
    assert services["audit-schema"]["depends_on"]["db"]["condition"] == "service_healthy"
    gate_deps = services["gate"]["depends_on"]
    assert gate_deps["audit-schema"]["condition"] == "service_completed_successfully"


def test_secrets_are_files_and_never_values(compose: dict[str, Any]) -> None:
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"}
    for name, svc in compose["services"].items():
        for key, value in svc.get("environment", {}).items():
            if "PASSWORD" in key:
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), name
                assert Path(str(value)).name in svc["secrets"], name
    gate = compose["services"]["gate"]["command"]
    url = gate[gate.index("--audit-db") + 1]
    target = parse_target(url, environ={})
    assert isinstance(target, PostgresTarget) and target.password is None
    assert (target.host, target.user) == ("db", "gate")
