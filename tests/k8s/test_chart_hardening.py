"""The chart's denial-of-service guards: connection limits, the API's budget and pool, the upload
spool on its own volume under a byte budget, client-certificate auth on the admission listener.

Each test reads real `helm template` output; the rendered `serve` arguments are parsed by the
gate's own CLI, so a flag the chart writes and the gate does not know fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from webhook.cli import build_parser
from webhook.server.devcerts import make_ca
from webhook.server.settings import ServerSettings

from . import render
from .conftest import one, only


def deployment(helm_bin: Path, *sets: str) -> dict[str, Any]:
    docs = render.documents(render.template(helm_bin, sets=sets))
    return one(docs, "Deployment")


def container(dep: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = dep["spec"]["template"]["spec"]["containers"][0]
    return found


def settings_of(dep: dict[str, Any]) -> ServerSettings:
    """What the gate makes of the rendered arguments (environment ignored)."""
    args = build_parser().parse_args(container(dep)["args"])
    return ServerSettings.from_args(args, environ={})


def volumes(dep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}


def mounts(dep: dict[str, Any]) -> dict[str, str]:
    return {m["name"]: m["mountPath"] for m in container(dep)["volumeMounts"]}


def _bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"([0-9]+)([A-Za-z]*)", quantity).groups()  # type: ignore[union-attr]
    scale = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
    return int(number) * scale[unit]


def test_defaults_guard_connections_and_bound_the_api(helm_bin: Path) -> None:
    settings = settings_of(deployment(helm_bin))
    assert settings.header_timeout == 10 and settings.body_timeout == 30
    assert settings.body_min_rate == 1024 and settings.max_header_bytes == 64 * 1024
    assert 0 < settings.max_connections_per_client < settings.max_concurrency
    assert settings.api_deadline == 120 and settings.api_threads == 8


def test_the_spool_has_its_own_volume_under_a_budget_below_its_size(helm_bin: Path) -> None:
    dep = deployment(helm_bin)
    settings = settings_of(dep)
    assert settings.tmp_dir == Path("/spool")
    assert mounts(dep)["spool"] == "/spool" and mounts(dep)["data"] == "/data"
    spool = volumes(dep)["spool"]
    assert spool["emptyDir"] != {} and spool is not volumes(dep)["data"]
    limit = _bytes(spool["emptyDir"]["sizeLimit"])
    assert settings.spool_max_bytes < limit  # past the sizeLimit the pod is evicted
    assert settings.max_upload <= settings.spool_max_bytes


def test_values_set_every_guard(helm_bin: Path, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "server:\n  connections: {headerTimeoutSeconds: 2.5, maxPerClient: 0, "
        "maxHeaderBytes: 131072}\n  apiDeadlineSeconds: 300\nspoolMaxBytes: 1GiB\n"
    )
    docs = render.documents(render.template(helm_bin, values_files=(values,)))
    settings = settings_of(one(docs, "Deployment"))
    assert settings.header_timeout == 2.5 and settings.max_connections_per_client == 0
    assert settings.max_header_bytes == 131072 and settings.api_deadline == 300
    assert settings.spool_max_bytes == 2**30


def test_admission_client_auth_is_off_by_default(helm_bin: Path) -> None:
    dep = deployment(helm_bin)
    assert settings_of(dep).client_ca is None
    assert "client-ca" not in volumes(dep)


def _ca_pem(tmp_path: Path) -> Path:
    _key, cert = make_ca("apiserver-client-ca")
    path = tmp_path / "ca.crt"
    path.write_bytes(cert.public_bytes(Encoding.PEM))
    return path


def test_admission_client_auth_from_a_ca_bundle(helm_bin: Path, tmp_path: Path) -> None:
    ca = _ca_pem(tmp_path)
    text = render.template(
        helm_bin,
        sets=["admissionClientAuth.enabled=true"],
        set_files=(*render.TEST_TRUST, f"admissionClientAuth.caBundle={ca}"),
    )
    docs = render.documents(text)
    dep = one(docs, "Deployment")
    assert settings_of(dep).client_ca == Path("/client-ca/ca.crt")
    assert mounts(dep)["client-ca"] == "/client-ca"
    name = volumes(dep)["client-ca"]["secret"]["secretName"]
    secret = [s for s in only(docs, "Secret") if s["metadata"]["name"] == name]
    assert len(secret) == 1
    assert secret[0]["stringData"]["ca.crt"].strip() == ca.read_text().strip()


def test_admission_client_auth_from_an_existing_secret(helm_bin: Path) -> None:
    docs = render.documents(
        render.template(
            helm_bin,
            sets=["admissionClientAuth.enabled=true", "admissionClientAuth.existingSecret=my-ca"],
        )
    )
    dep = one(docs, "Deployment")
    assert volumes(dep)["client-ca"]["secret"]["secretName"] == "my-ca"
    assert not [s for s in only(docs, "Secret") if s["metadata"]["name"] == "my-ca"]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["admissionClientAuth.enabled=true"], "needs admissionClientAuth.caBundle"),
        (
            ["admissionClientAuth.enabled=true", "admissionClientAuth.caBundle=TUlJQg=="],
            "must be PEM",
        ),
    ],
)
def test_admission_client_auth_without_a_usable_ca_does_not_render(
    helm_bin: Path, sets: list[str], message: str
) -> None:
    with pytest.raises(render.RenderError, match=message):
        render.template(helm_bin, sets=sets)


@pytest.mark.parametrize(
    "value",
    [
        "server.connections.maxPerClient=-1",
        "server.connections.headerTimeoutSeconds=0",
        "server.connections.slowloris=1",
        "spoolMaxBytes=lots",
        "server.apiThreads=0",
    ],
)
def test_values_schema_rejects_nonsense_guards(helm_bin: Path, value: str) -> None:
    with pytest.raises(render.RenderError, match="values don't meet the specifications"):
        render.template(helm_bin, sets=[value])
