"""The chart's audit store modes (issue 13): single-replica SQLite (more replicas refused unless
the unsafe value is set), external PostgreSQL (URL, password from a Secret as a file, egress to
the database only), and the UI session-key Secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import render

PG = (
    "audit.backend=postgresql",
    "audit.postgresql.url=postgresql://gate@pg.db.svc:5432/audit?sslmode=verify-full",
    "audit.postgresql.passwordSecret.name=gate-db",
    "replicaCount=3",
)


def _pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    pod: dict[str, Any] = dep["spec"]["template"]["spec"]
    return pod


def _env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in pod["containers"][0]["env"]}


def test_default_is_one_pod_with_sqlite(default_render: list[dict[str, Any]]) -> None:
    (dep,) = [d for d in default_render if d["kind"] == "Deployment"]
    assert dep["spec"]["replicas"] == 1
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--audit-db=/data/audit.db" in args
    assert "MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE" not in _env(dep["spec"]["template"]["spec"])


def test_sqlite_refuses_more_than_one_replica_unless_unsafe(helm_bin: Path) -> None:
    with pytest.raises(render.RenderError, match="every pod would keep its own audit chain"):
        render.template(helm_bin, sets=("replicaCount=3",))
    docs = render.documents(
        render.template(helm_bin, sets=("replicaCount=3", "audit.unsafeSqlitePerPodStores=true"))
    )
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    assert dep["spec"]["replicas"] == 3


def test_sqlite_on_a_claim_recreates(helm_bin: Path) -> None:
    docs = render.documents(
        render.template(helm_bin, sets=("audit.sqlite.existingClaim=gate-audit",))
    )
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "gate-audit"}


def test_postgresql_mode(helm_bin: Path) -> None:
    docs = render.documents(render.template(helm_bin, sets=PG))
    pod = _pod(docs)
    container = pod["containers"][0]
    assert (
        "--audit-db=postgresql://gate@pg.db.svc:5432/audit?sslmode=verify-full" in container["args"]
    )
    env = _env(pod)
    assert env["MIGRATION_GATE_AUDIT_DB_PASSWORD_FILE"] == "/audit-db/password"
    assert not any("PASSWORD" in e["name"] and "valueFrom" in e for e in container["env"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["audit-db-password"]["secret"]["secretName"] == "gate-db"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["audit-db-password"] == {
        "name": "audit-db-password", "mountPath": "/audit-db", "readOnly": True,
    }  # fmt: skip
    (netpol,) = [d for d in docs if d["kind"] == "NetworkPolicy"]
    egress = netpol["spec"]["egress"]
    assert egress[0] == {"ports": [{"port": 5432, "protocol": "TCP"}]}
    assert {p["port"] for p in egress[1]["ports"]} == {53}
    assert len(egress) == 2  # nothing else leaves the pod
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    assert dep["spec"]["replicas"] == 3 and dep["spec"]["strategy"]["type"] == "RollingUpdate"


def test_postgresql_egress_narrowed_to_the_database(helm_bin: Path) -> None:
    sets = (
        *PG,
        "audit.postgresql.egressTo[0].ipBlock.cidr=10.0.5.10/32",
        "audit.postgresql.allowDns=false",
    )
    (netpol,) = [
        d
        for d in render.documents(render.template(helm_bin, sets=sets))
        if d["kind"] == "NetworkPolicy"
    ]
    assert netpol["spec"]["egress"] == [
        {
            "ports": [{"port": 5432, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "10.0.5.10/32"}}],
        }
    ]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("audit.backend=postgresql",), "needs audit.postgresql.url"),
        (
            ("audit.backend=postgresql", "audit.postgresql.url=postgresql://gate:hunter2@pg/audit"),
            "postgresql/url",
        ),
        (("audit.backend=mysql",), "backend"),
    ],
)
def test_postgresql_mode_refuses_what_cannot_work(
    helm_bin: Path, sets: tuple[str, ...], message: str
) -> None:
    with pytest.raises(render.RenderError, match=message):
        render.template(helm_bin, sets=sets)


def test_ui_session_key_secret(helm_bin: Path) -> None:
    pod = _pod(
        render.documents(render.template(helm_bin, sets=("ui.sessionKeySecret.name=ui-key",)))
    )
    assert _env(pod)["MIGRATION_GATE_SESSION_KEY_FILE"] == "/ui-session/session-key"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["ui-session-key"]["secret"]["secretName"] == "ui-key"
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["ui-session-key"]["readOnly"] is True


def test_postgresql_ca_for_verify_full(helm_bin: Path) -> None:
    sets = (*PG, "audit.postgresql.caSecret.name=pg-ca")
    pod = _pod(render.documents(render.template(helm_bin, sets=sets)))
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["audit-db-ca"]["secret"]["secretName"] == "pg-ca"
    assert volumes["audit-db-ca"]["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["audit-db-ca"] == {
        "name": "audit-db-ca", "mountPath": "/audit-db-ca", "readOnly": True,
    }  # fmt: skip
    default = _pod(render.documents(render.template(helm_bin, sets=PG)))
    assert "audit-db-ca" not in {v["name"] for v in default["volumes"]}
