"""An unsigned prod migration is BLOCKed through every door (issue 11, acceptance).

Two ways a gate is really started: the README's quick start (`make run`: the examples' TEST
trust store, `--snapshot-root examples`, dev state under `.state/`) and the chart's only way to
run without a trusted key (`unsafeAllowEmptyTrust`: an empty trust Secret and
`--allow-empty-trust true`); the chart's plain defaults refuse to render at all (tests/k8s). For
each, the unsigned prod example and the "strip the signature, write `env: staging`" forgery go
through the CLI (default env), the API (no env field, and env=prod), and admission (prod path,
CRD and ConfigMap), and every one of them is a BLOCK naming signature-required.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import EXAMPLES, PY, ROOT, TOKENS, Gate, post_review, review, start_gate

TRUST = EXAMPLES / "t1_good" / "trust"
FILES = ("migration_manifest.json", "app-config.yaml")


def make_run_args() -> list[str]:
    """The `serve` flags of the Makefile's `run` recipe, without the state dir (a tmp one)."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    recipe = re.search(r"^run:.*\n\t(.*)$", text, re.M)
    assert recipe is not None, "Makefile has no `run:` target"
    argv = shlex.split(recipe.group(1))
    args = argv[argv.index("serve") + 1 :]
    i = args.index("--state-dir")
    del args[i : i + 2]
    assert "--trust-dir" in args and "--allow-empty-trust" not in args, args
    return args


def forged_staging(tmp: Path) -> Path:
    """t1_good with its signature dropped and `env: staging` written in (hash re-pinned)."""
    out = tmp / "forged"
    out.mkdir()
    config = (EXAMPLES / "t1_good" / FILES[1]).read_bytes().replace(b"env: prod", b"env: staging")
    manifest = json.loads((EXAMPLES / "t1_good" / FILES[0]).read_text())
    manifest.update(env="staging", config_sha256=hashlib.sha256(config).hexdigest())
    (out / FILES[1]).write_bytes(config)
    (out / FILES[0]).write_text(json.dumps(manifest))
    return out


@pytest.fixture(scope="module", params=["quick-start", "chart-unsafe-empty-trust"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gate, Path, list[Path]]]:
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "quick-start":  # the Makefile's `run` target, flag for flag (ports: 0)
        args = make_run_args()
        trust = ROOT / args[args.index("--trust-dir") + 1]
        gate = start_gate(tmp, *args)  # its first-start operator token, as `make run` prints
    else:
        trust = tmp / "trust"  # the chart's trust Secret, mounted empty
        trust.mkdir()
        args = ["--trust-dir", str(trust), "--allow-empty-trust", "true"]
        gate = start_gate(tmp, *args, tokens=dict(TOKENS))
    folders = [EXAMPLES / "t1_bad_unsigned", forged_staging(tmp)]
    yield gate, trust, folders
    gate.stop()


def _policies(reasons: list[dict[str, Any]]) -> set[str]:
    return {r["policy"] for r in reasons}


def test_cli(setup: tuple[Gate, Path, list[Path]]) -> None:
    _, trust, folders = setup
    for folder in folders:
        proc = subprocess.run(
            [PY, "-m", "webhook.cli", "validate", "migration", str(folder),
             "--trust-dir", str(trust), "--output", "json"],
            capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stdout + proc.stderr
        decision = json.loads(proc.stdout)
        assert decision["subject"]["env"] == "prod"
        assert "signature-required" in _policies(decision["reasons"]), decision


def test_api(setup: tuple[Gate, Path, list[Path]]) -> None:
    gate, _, folders = setup
    with gate.client() as c:
        for folder in folders:
            files = {n: (n, (folder / n).read_bytes()) for n in FILES}
            for extra in ({}, {"env": "prod"}):
                r = c.post(
                    gate.api + "/api/v1/validate/migration",
                    headers=gate.auth(),
                    files=files,
                    data=extra,
                )
                assert r.status_code == 422, r.text
                assert r.json()["decision"] == "BLOCK" and r.json()["subject"]["env"] == "prod"
                assert "signature-required" in _policies(r.json()["reasons"]), r.text


def _objects(folder: Path) -> list[tuple[dict[str, Any], tuple[str, str, str]]]:
    texts = {n: (folder / n).read_text() for n in FILES}
    manifest = json.loads(texts[FILES[0]])
    spec = {"appId": manifest["app_id"], "env": manifest["env"], "version": manifest["version"],
            "configSha256": manifest["config_sha256"], "config": texts[FILES[1]]}  # fmt: skip
    mr = {
        "apiVersion": "migrationgate.io/v1alpha1",
        "kind": "MigrationRequest",
        "metadata": {"name": "unsigned", "namespace": "payments"},
        "spec": spec,
    }
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "unsigned",
            "namespace": "payments",
            "labels": {"migrationgate.io/scenario": "migration"},
        },
        "data": texts,
    }
    return [
        (mr, ("migrationgate.io", "v1alpha1", "MigrationRequest")),
        (cm, ("", "v1", "ConfigMap")),
    ]


def test_admission(setup: tuple[Gate, Path, list[Path]]) -> None:
    gate, _, folders = setup
    for i, folder in enumerate(folders):
        for j, (obj, (group, version, kind)) in enumerate(_objects(folder)):
            body = review(obj, uid=f"u-{i}-{j}", group=group, version=version, kind=kind)
            resp = post_review(gate, body)  # the prod path: /admission/v1/validate
            assert resp["allowed"] is False, resp
            assert "[signature-required]" in resp["status"]["message"], resp


def test_quick_start_is_ready_and_the_empty_trust_one_says_why(
    setup: tuple[Gate, Path, list[Path]],
) -> None:
    import httpx

    gate, trust, _ = setup
    ready = httpx.get(gate.metrics + "/readyz", timeout=30)
    assert ready.status_code == 200, ready.text
    component = ready.json()["components"]["trust"]
    if trust.resolve() == TRUST.resolve():
        assert component == "ok"
    else:
        assert component.startswith("trust store empty: every prod decision BLOCKs")
