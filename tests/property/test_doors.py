"""Signatures moved between artifacts; decisions deterministic and equal through every door.

Doors in-process: the engine, the CLI's `main()`, the operator API and admission (both as ASGI
apps over httpx's ASGI transport). Each door decides for prod here (the default of every door).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from tests.property.support import (
    EXAMPLES,
    T1_FILES,
    T1_GOOD,
    T2_GOOD,
    decide_t1,
    decide_t2,
    explain,
    fresh_engine,
    repin,
    scaled,
    sign,
    t1_good,
    t1_inputs,
    t2_inputs,
    verdict,
)

GOOD = t1_good()
ENVELOPES = sorted(EXAMPLES.glob("*/*.dsse.json"))


def _payload(raw: bytes) -> tuple[str, str] | None:
    try:
        doc = json.loads(raw)
        return str(doc["payloadType"]), str(doc["payload"])
    except (ValueError, KeyError, TypeError):
        return None


# ---- signatures moved between artifacts ----------------------------------------------------


@pytest.mark.parametrize("env_file", ENVELOPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_signature_moved_to_t1(env_file: Path) -> None:
    raw = env_file.read_bytes()
    d = decide_t1(t1_inputs({**GOOD, "migration_manifest.dsse.json": raw}))
    if _payload(raw) == _payload(GOOD["migration_manifest.dsse.json"]):
        return  # benign: an envelope over the very same manifest (e.g. a copy of the good one)
    assert d.decision == "BLOCK", f"{env_file} as the manifest signature was ALLOWed"


@pytest.mark.parametrize("env_file", ENVELOPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_signature_moved_to_t2(env_file: Path) -> None:
    raw = env_file.read_bytes()
    good = (T2_GOOD / "snapshot.dsse.json").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        import shutil

        f = Path(tmp) / "t2"
        shutil.copytree(T2_GOOD, f)
        (f / "snapshot.dsse.json").write_bytes(raw)
        d = decide_t2(t2_inputs(f))
    if _payload(raw) == _payload(good):
        return  # benign: the same signed statement (the bad examples share the good one's)
    assert d.decision == "BLOCK", f"{env_file} as the attestation was ALLOWed"


def test_manifest_signed_as_other_type_or_key_blocks() -> None:
    manifest = GOOD["migration_manifest.json"]
    wrong_type = sign(manifest, "application/vnd.in-toto+json")
    untrusted = sign(manifest, key="untrusted")
    for sig in (wrong_type, untrusted):
        d = decide_t1(t1_inputs({**GOOD, "migration_manifest.dsse.json": sig}))
        assert d.decision == "BLOCK", explain(d)
    statement = (T2_GOOD / "snapshot.dsse.json").read_bytes()
    d = decide_t1(t1_inputs({**GOOD, "migration_manifest.dsse.json": statement}))
    assert d.decision == "BLOCK"


# ---- determinism ---------------------------------------------------------------------------


def _t1_mutation(data: st.DataObject) -> dict[str, bytes | None]:
    files: dict[str, bytes | None] = dict(GOOD)
    kind = data.draw(st.sampled_from(["flip", "repin-flip", "none", "drop"]))
    name = data.draw(st.sampled_from(T1_FILES))
    if kind == "drop":
        files[name] = None
        return files
    if kind == "none":
        return files
    raw = bytearray(GOOD[name] if kind == "flip" else GOOD["app-config.yaml"])
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    if kind == "flip":
        files[name] = bytes(raw)
        return files
    return dict(repin(bytes(raw)))


@settings(max_examples=scaled(40))
@given(data=st.data())
def test_decisions_are_deterministic(data: st.DataObject) -> None:
    files = _t1_mutation(data)
    first = decide_t1(t1_inputs(files))
    again = decide_t1(t1_inputs(files))  # the engine's input cache is warm now
    cold = decide_t1(t1_inputs(files), fresh_engine())
    assert verdict(first) == verdict(again) == verdict(cold)
    assert first.to_json() == again.to_json() == cold.to_json()


# ---- the same inputs through the CLI, the API and admission -------------------------------

OPERATOR = "mg_op_" + "p" * 30


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from webhook.audit import open_store
    from webhook.pipelines import Engine
    from webhook.server.app import build_apps
    from webhook.server.auth import TokenStore, hash_token
    from webhook.server.gate import GateState
    from webhook.server.settings import ServerSettings

    tmp = tmp_path_factory.mktemp("doors")
    settings_ = ServerSettings(state_dir=tmp, decision_cache_ttl=0)
    store = open_store(tmp / "audit.db")
    state = GateState(engine=Engine.load(None, T1_GOOD / "trust"), store=store)
    tokens = TokenStore.parse(f"operator:{hash_token(OPERATOR)}:ci\n")
    built = build_apps(settings_, state, tokens)
    yield built
    built.gate.close()
    store.close()


def _cli(files: dict[str, bytes | None]) -> dict[str, Any]:
    from webhook.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            if data is not None:
                (Path(tmp) / name).write_bytes(data)
        out = io.StringIO()
        argv = ["validate", "migration", tmp, "--output", "json"]
        argv += ["--trust-dir", str(T1_GOOD / "trust"), "--no-audit"]
        try:
            with redirect_stdout(out), redirect_stderr(io.StringIO()):
                code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
        if code == 2:
            return {"usage-error": 2}
    doc: dict[str, Any] = json.loads(out.getvalue())
    assert code == (0 if doc["decision"] == "ALLOW" else 1)
    return doc


def _multipart(files: dict[str, bytes | None]) -> tuple[bytes, str]:
    boundary = "PropBoundary7"
    out = b""
    for name, data in files.items():
        if data is None:
            continue
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '.encode()
        out += f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _review(files: dict[str, bytes | None], uid: str) -> dict[str, Any]:
    data = {}
    for name, raw in files.items():
        if raw is not None:
            data[name] = raw.decode("utf-8", "surrogateescape")
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "prop",
            "namespace": "payments",
            "labels": {"migrationgate.io/scenario": "migration"},
        },
        "data": data,
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "operation": "CREATE",
            "namespace": "payments",
            "name": "prop",
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "userInfo": {"username": "prop"},
        },
    }


def _servers(
    apps: Any, files: dict[str, bytes | None], uid: str
) -> tuple[httpx.Response, httpx.Response | None]:
    body, ctype = _multipart(files)

    async def go() -> tuple[httpx.Response, httpx.Response | None]:
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=apps.api), base_url="http://g")
        adm = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=apps.admission), base_url="http://g"
        )
        async with api, adm:
            r1 = await api.post(
                "/api/v1/validate/migration",
                content=body,
                headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": ctype},
            )
            r2 = None
            if all(v is None or _utf8(v) for v in files.values()):
                # a ConfigMap's data is text: non-UTF-8 bytes cannot reach admission unchanged
                r2 = await adm.post("/admission/v1/validate", json=_review(files, uid))
        return r1, r2

    return asyncio.run(go())


def _ids(reasons: list[dict[str, Any]]) -> set[str]:
    return {r["policy"] for r in reasons}


def _admission_ids(resp: dict[str, Any]) -> set[str]:
    if resp["allowed"]:
        return set()
    lines = resp["status"]["message"].splitlines()[1:]
    return {m.group(1) for ln in lines if (m := re.search(r"\[([a-z0-9-]+)\]", ln))}


@settings(max_examples=scaled(15))
@given(data=st.data())
def test_doors_agree(apps: Any, data: st.DataObject) -> None:
    files = _t1_mutation(data)
    utf8 = all(v is None or _utf8(v) for v in files.values())
    engine = decide_t1(t1_inputs(files))
    cli = _cli(files)
    uid = f"prop-{data.draw(st.integers(0, 10**9))}"
    api, adm = _servers(apps, files, uid)
    note(f"engine: {explain(engine)}\napi: {api.text}\nadmission: {adm and adm.text}")
    if any(files.get(n) is None for n in REQUIRED):
        # a missing required file is the client's mistake at the CLI and the API (exit 2 / 400
        # naming it, nothing decided); admission has only a denial to give: the engine's
        missing = next(n for n in REQUIRED if files.get(n) is None)
        assert cli == {"usage-error": 2}
        assert api.status_code == 400 and api.json()["error"] == "missing-part", api.text
        assert missing in api.json()["detail"]
        assert engine.decision == "BLOCK" and "input-missing" in engine.policy_ids()
        assert adm is not None and adm.status_code == 200, adm and adm.text
        resp = adm.json()["response"]
        assert resp["allowed"] is False and _admission_ids(resp) == set(engine.policy_ids())
        return
    assert api.status_code in (200, 422), api.text
    api_doc = api.json()
    want = engine.decision
    assert cli["decision"] == api_doc["decision"] == want
    assert _ids(cli["reasons"]) == _ids(api_doc["reasons"]) == set(engine.policy_ids())
    if utf8:
        assert adm is not None and adm.status_code == 200, adm and adm.text
        resp = adm.json()["response"]
        assert resp["allowed"] is (want == "ALLOW")
        assert _admission_ids(resp) == set(engine.policy_ids())


#: a T1 folder without one of these is incomplete (the signature is optional: its absence BLOCKs)
REQUIRED = ("app-config.yaml", "migration_manifest.json")


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---- T2: the engine, the CLI and the API on the same (mutated) folder ----------------------

T2_NAMES = [
    "replication_manifest.yaml",
    "snapshot.tar.gz",
    "snapshot.dsse.json",
    *(f"wal_files/{p.name}" for p in sorted((T2_GOOD / "wal_files").iterdir())),
]


def _t2_multipart(folder: Path) -> tuple[bytes, str]:
    boundary = "PropBoundary8"
    out = b""
    for name in ("replication_manifest.yaml", "snapshot.tar.gz", "snapshot.dsse.json"):
        field = name
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '.encode()
        out += f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        out += (folder / name).read_bytes() + b"\r\n"
    for wal in sorted((folder / "wal_files").iterdir()):
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="wal_files"; '.encode()
        out += f'filename="{wal.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        out += wal.read_bytes() + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@settings(max_examples=scaled(12))
@given(
    name=st.sampled_from(T2_NAMES),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    mask=st.integers(0, 255),
)
def test_t2_doors_agree(apps: Any, name: str, where: float, mask: int) -> None:
    from webhook.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        import shutil

        f = Path(tmp) / "t2"
        shutil.copytree(T2_GOOD, f)
        raw = bytearray((f / name).read_bytes())
        raw[int(where * len(raw))] ^= mask  # mask 0: the good example itself
        (f / name).write_bytes(bytes(raw))
        engine = decide_t2(t2_inputs(f))
        out = io.StringIO()
        with redirect_stdout(out):
            main(
                [
                    "validate",
                    "replication",
                    str(f),
                    "--output",
                    "json",
                    "--trust-dir",
                    str(T1_GOOD / "trust"),
                ]
            )
        cli = json.loads(out.getvalue())
        body, ctype = _t2_multipart(f)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=apps.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://g") as c:
            return await c.post(
                "/api/v1/validate/replication",
                content=body,
                headers={"Authorization": f"Bearer {OPERATOR}", "Content-Type": ctype},
            )

    api = asyncio.run(go())
    note(f"engine: {explain(engine)}\napi: {api.text[:2000]}")
    assert api.status_code in (200, 422), api.text
    doc = api.json()
    assert cli["decision"] == doc["decision"] == engine.decision
    assert _ids(cli["reasons"]) == _ids(doc["reasons"]) == set(engine.policy_ids())
