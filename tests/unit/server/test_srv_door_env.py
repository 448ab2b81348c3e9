"""The door, not the artifact, sets the target env (issue 11 item 2); the cache keeps envs apart.

`examples/t1_staging_warn` is the probe: it claims `env: staging` and is unsigned, so the staging
door ALLOWs it (with a warning) and the prod door must BLOCK it (`env-mismatch`,
`signature-required`, `tls-min-version`). Every way a request might pick staging other than the
door's own (admission path, token scope / request field) must end in prod or a refusal, and a
staging ALLOW must never be replayed from the decision cache to a prod request.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_examples_parity import migration_request
from tests.unit.server.support import decide_cached, key_of
from webhook.audit import open_store
from webhook.contracts.decision import Decision
from webhook.contracts.env import Env
from webhook.pipelines import Engine, MigrationInputs
from webhook.server.admission import ADMISSION_PATH, STAGING_ADMISSION_PATH
from webhook.server.app import GateApps, build_apps
from webhook.server.auth import Principal, TokenStore, hash_token
from webhook.server.cache import decision_key, inputs_material, object_material
from webhook.server.door_env import api_env, query_env
from webhook.server.gate import Gate, GateState
from webhook.server.http import HTTPError
from webhook.server.metrics import GateMetrics
from webhook.server.settings import ServerSettings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
STAGING = EXAMPLES / "t1_staging_warn"
TRUST = EXAMPLES / "t1_good" / "trust"
FILES = ("migration_manifest.json", "app-config.yaml")
ANY_ENV, PROD_ONLY, STAGING_ONLY = "mg_any_" + "a" * 30, "mg_prod_" + "b" * 30, "mg_stg_" + "c" * 30


def staging_inputs() -> MigrationInputs:
    return MigrationInputs(
        manifest=(STAGING / FILES[0]).read_bytes(), config=(STAGING / FILES[1]).read_bytes()
    )


def policies(doc: dict[str, Any]) -> set[str]:
    return {r["policy"] for r in doc["reasons"]}


# --- the decision cache -------------------------------------------------------------------------


def test_every_key_holds_the_env() -> None:
    inputs = staging_inputs()
    envs: tuple[Env, ...] = ("prod", "staging")
    keys = {key_of(inputs_material(inputs), env=env) for env in envs}
    assert len(keys) == 2 and None not in keys
    obj = migration_request(STAGING)
    material = object_material("MigrationRequest", obj, label=None)
    okeys = {key_of(material, env=env) for env in envs}
    assert len(okeys) == 2 and None not in okeys
    material = inputs_material(inputs)
    assert material is not None
    with pytest.raises(ValueError, match="env must be one of prod, staging"):
        decision_key(material, identity="b", dry_run=False, env="Staging")  # type: ignore[arg-type]


def test_a_staging_allow_is_never_served_to_prod(tmp_path: Path) -> None:
    gate = Gate(GateState(engine=Engine.load(None, TRUST), store=open_store(tmp_path / "a.db")),
                GateMetrics())  # fmt: skip
    cache = gate.cache

    def run(env: Env, request_id: str) -> Decision:
        return asyncio.run(decide_cached(gate, staging_inputs(), request_id, env=env))

    staged = run("staging", "s")
    assert staged.decision == "ALLOW" and staged.subject["env"] == "staging"
    prod = run("prod", "p")
    assert cache.hits == 0  # a miss: prod is decided, not looked up
    assert prod.decision == "BLOCK" and prod.subject["env"] == "prod"
    assert {"env-mismatch", "signature-required"} <= {r.policy for r in prod.reasons}
    again = run("prod", "p2")
    assert cache.hits == 1 and again.decision == "BLOCK"
    gate.close()


# --- admission: the path is the env -------------------------------------------------------------


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[GateApps]:
    settings = ServerSettings(state_dir=tmp_path)
    store = open_store(tmp_path / "audit.db")
    state = GateState(engine=Engine.load(None, TRUST), store=store)
    tokens = TokenStore.parse(
        f"operator:{hash_token(ANY_ENV)}:any\n"
        f"operator:{hash_token(PROD_ONLY)}:prod-ci:prod\n"
        f"operator:{hash_token(STAGING_ONLY)}:staging-ci:staging\n"
    )
    built = build_apps(settings, state, tokens)
    yield built
    built.gate.close()
    store.close()


def review(obj: dict[str, Any], uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {
                "group": "migrationgate.io",
                "version": "v1alpha1",
                "kind": "MigrationRequest",
            },
            "operation": "CREATE",
            "object": obj,
        },
    }


def post_all(app: Any, calls: list[tuple[str, dict[str, Any], dict[str, str]]]) -> list[Any]:
    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://gate") as c:
            return [await c.post(path, json=body, headers=headers) for path, body, headers in calls]

    return asyncio.run(main())


@pytest.mark.parametrize("door", ["raw", "starlette"])
def test_admission_env_comes_from_the_path_only(apps: GateApps, door: str) -> None:
    app = apps.admission if door == "raw" else apps.admission.fallback  # type: ignore[attr-defined]
    obj = migration_request(STAGING)
    tricked = copy.deepcopy(obj)
    tricked["metadata"]["labels"] = {"migrationgate.io/env": "staging"}
    tricked["metadata"]["namespace"] = "staging"
    staging, prod, query, header, labels, staging_again, prod_hit, upper, prod_path = post_all(
        app,
        [
            (STAGING_ADMISSION_PATH, review(obj, "s1"), {}),
            (ADMISSION_PATH, review(obj, "p1"), {}),
            (ADMISSION_PATH + "?env=staging", review(obj, "p2"), {}),
            (ADMISSION_PATH, review(obj, "p3"), {"X-Migration-Gate-Env": "staging"}),
            (ADMISSION_PATH, review(tricked, "p4"), {}),
            (STAGING_ADMISSION_PATH, review(obj, "s2"), {}),  # a cache hit, still staging
            (ADMISSION_PATH, review(obj, "p5"), {}),  # a cache hit, still prod
            (ADMISSION_PATH + "/Staging", review(obj, "x1"), {}),
            (ADMISSION_PATH + "/prod", review(obj, "x2"), {}),
        ],
    )
    for ok in (staging, staging_again):
        assert ok.status_code == 200 and ok.json()["response"]["allowed"] is True
    for denied in (prod, query, header, labels, prod_hit):
        resp = denied.json()["response"]
        assert denied.status_code == 200 and resp["allowed"] is False
        assert "[env-mismatch]" in resp["status"]["message"]
        assert "[signature-required]" in resp["status"]["message"]
    for unknown in (upper, prod_path):  # only the exact paths exist: the apiserver then refuses
        assert unknown.status_code == 404


# --- API: token scope and request field --------------------------------------------------------


def principal(envs: tuple[str, ...] = ("prod", "staging")) -> Principal:
    return Principal(name="ci", role="operator", envs=envs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("envs", "query", "form", "expected"),
    [
        (("prod", "staging"), None, None, "prod"),  # unscoped, says nothing: prod
        (("prod", "staging"), "staging", None, "staging"),
        (("prod", "staging"), None, "staging", "staging"),
        (("prod", "staging"), "prod", "prod", "prod"),
        (("staging",), None, None, "staging"),  # scoped to one env: that env
        (("staging",), None, "staging", "staging"),
        (("prod",), None, None, "prod"),
    ],
)
def test_api_env_resolution(
    envs: tuple[str, ...], query: str | None, form: str | None, expected: str
) -> None:
    assert api_env(principal(envs), query=query, form=form) == expected


@pytest.mark.parametrize(
    ("envs", "query", "form", "status", "needle"),
    [
        (("staging",), None, "prod", 403, "token 'ci' is scoped to env staging: it may not "
         "validate for prod (form field env=prod)"),
        (("prod",), "staging", None, 403, "scoped to env prod: it may not validate for staging "
         "(query parameter env=staging)"),
        (("prod", "staging"), None, "Staging", 400, "form field env must be one of prod, "
         "staging (found 'Staging')"),
        (("prod", "staging"), "", None, 400, "query parameter env must be one of"),
        (("prod", "staging"), "prod", "staging", 400, "env given twice with different values"),
        (("prod", "staging"), None, "x" * 500, 400, "'" + "x" * 32 + "...'"),
    ],
)  # fmt: skip
def test_api_env_refusals_are_precise(
    envs: tuple[str, ...], query: str | None, form: str | None, status: int, needle: str
) -> None:
    with pytest.raises(HTTPError) as err:
        api_env(principal(envs), query=query, form=form)
    assert err.value.status == status and needle in err.value.detail


def test_query_env() -> None:
    assert query_env(b"") is None and query_env(b"limit=3") is None
    assert query_env(b"env=staging") == "staging" and query_env(b"a=1&env=prod") == "prod"
    with pytest.raises(HTTPError, match="more than once"):
        query_env(b"env=prod&env=staging")


def multipart(extra: list[tuple[str, bytes]]) -> tuple[dict[str, str], bytes]:
    out = b""
    for name, data in [*((n, (STAGING / n).read_bytes()) for n in FILES), *extra]:
        out += f'--B\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += data + b"\r\n"
    return {"Content-Type": "multipart/form-data; boundary=B"}, out + b"--B--\r\n"


def api_calls(app: Any, calls: list[tuple[str, str, list[tuple[str, bytes]]]]) -> list[Any]:
    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            out = []
            for token, query, extra in calls:
                headers, content = multipart(extra)
                headers["Authorization"] = f"Bearer {token}"
                url = "/api/v1/validate/migration" + query
                out.append(await c.post(url, headers=headers, content=content))
            return out

    return asyncio.run(main())


@pytest.mark.parametrize("door", ["raw", "starlette"])
def test_api_env_from_field_or_scope(apps: GateApps, door: str) -> None:
    app = apps.api if door == "raw" else apps.api.fallback  # type: ignore[attr-defined]
    env = [("env", b"staging")]
    (field, query, unscoped, scoped, scoped_field, prod_hit, refused, refused_q, bad) = api_calls(
        app,
        [
            (ANY_ENV, "", env),
            (ANY_ENV, "?env=staging", []),
            (ANY_ENV, "", []),  # says nothing: prod, after a staging ALLOW of the same bytes
            (STAGING_ONLY, "", []),
            (STAGING_ONLY, "", env),
            (PROD_ONLY, "", []),
            (PROD_ONLY, "", env),
            (STAGING_ONLY, "?env=prod", []),
            (ANY_ENV, "", [("env", b"qa")]),
        ],
    )
    for ok in (field, query, scoped, scoped_field):
        assert ok.status_code == 200, ok.text
        assert ok.json()["decision"] == "ALLOW" and ok.json()["subject"]["env"] == "staging"
    for prod in (unscoped, prod_hit):
        assert prod.status_code == 422 and prod.json()["subject"]["env"] == "prod"
        assert {"env-mismatch", "signature-required"} <= policies(prod.json())
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert "token 'prod-ci' is scoped to env prod" in refused.json()["detail"]
    assert (
        refused_q.status_code == 403 and "(query parameter env=prod)" in refused_q.json()["detail"]
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid-env"


def test_api_replication_takes_the_env_too(apps: GateApps) -> None:
    good = EXAMPLES / "t2_good"
    names = ("replication_manifest.yaml", "snapshot.tar.gz", "snapshot.dsse.json")

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=apps.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            files = [(n, (n, (good / n).read_bytes())) for n in names]
            files += [("wal_files", (p.name, p.read_bytes()))
                      for p in sorted((good / "wal_files").iterdir())]  # fmt: skip
            auth = {"Authorization": f"Bearer {STAGING_ONLY}"}
            url = "/api/v1/validate/replication"
            return [
                await c.post(url, headers=auth, files=files),
                await c.post(url + "?env=prod", headers=auth, files=files),
            ]

    scoped, refused = asyncio.run(main())
    assert scoped.json()["subject"]["env"] == "staging"  # the token's only env, not the manifest's
    assert "env-mismatch" in policies(scoped.json())
    assert refused.status_code == 403


# --- the token file -----------------------------------------------------------------------------


def test_token_scopes_and_old_files() -> None:
    h = "0" * 64
    store = TokenStore.parse(
        f"operator:{hash_token('a')}:old\n"
        f"operator:{hash_token('b')}:both:prod,staging\n"
        f"operator:{hash_token('c')}:stg:staging\n"
        f"viewer:{h}:v:prod\n"
    )
    old, both, stg = (store.authenticate(t) for t in "abc")
    assert old is not None and old.envs == ("prod", "staging")
    assert old.default_env == "prod"
    assert both is not None and both.envs == ("prod", "staging") and both.default_env == "prod"
    assert stg is not None and stg.envs == ("staging",)
    assert stg.default_env == "staging"


@pytest.mark.parametrize(
    ("envs", "needle"),
    [
        ("", "empty item"),
        ("prod,", "empty item"),
        ("Prod", "unknown env 'Prod'"),
        ("qa", "unknown env 'qa'"),
        ("prod,prod", "twice"),
    ],
)
def test_bad_token_scopes_name_the_line(envs: str, needle: str) -> None:
    from webhook.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        TokenStore.parse(f"\noperator:{'0' * 64}:ci:{envs}", source="tokens")
    assert err.value.field == "line 2" and needle in err.value.message


def test_openapi_documents_the_env_of_both_validations() -> None:
    from openapi_spec_validator import validate as validate_spec

    from webhook.server.openapi import openapi_document

    doc = openapi_document()
    validate_spec(doc)  # type: ignore[arg-type]
    for path in ("/api/v1/validate/migration", "/api/v1/validate/replication"):
        op = doc["paths"][path]["post"]
        form = op["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
        assert form["env"]["enum"] == ["prod", "staging"]
        [param] = [p for p in op["parameters"] if p["name"] == "env"]
        assert param["in"] == "query" and param["schema"]["enum"] == ["prod", "staging"]
        assert "scope" in op["responses"]["403"]["description"]
        assert "token's env scope" in op["description"] and "prod" in op["description"]


def test_door_made_blocks_name_the_door_env(tmp_path: Path) -> None:
    """A BLOCK the door makes itself (gate unconfigured, unreadable object) is recorded for the
    door's env, never for the env the object claims (audit records and metrics read it)."""
    from webhook.server.admission import AdmissionDoor
    from webhook.server.gate import Gate
    from webhook.server.metrics import GateMetrics
    from webhook.server.objects import SnapshotPolicy

    store = open_store(tmp_path / "audit.db")
    gate = Gate(GateState(engine=None, store=store, errors={"policy": "x"}), GateMetrics())
    door = AdmissionDoor(gate, max_body=1 << 20, deadline=8.0, snapshots=SnapshotPolicy(None, 0))
    claims_staging = migration_request(STAGING)
    broken = {**claims_staging, "spec": "not an object"}

    async def main() -> list[Any]:
        out = []
        for obj in (claims_staging, broken):
            for env in ("prod", "staging"):
                req = review(obj, f"{env}-{len(out)}")["request"]
                out.append((env, await door.review(req, env=env)))  # type: ignore[arg-type]
        return out

    try:
        for env, decision in asyncio.run(main()):
            assert decision.decision == "BLOCK" and decision.subject["env"] == env
    finally:
        gate.close()
        store.close()
