"""The prod door (the default of every door) never ALLOWs what is not signed for prod.

Every example at the prod door with its own trust dir; the good examples with no trust at all
(issue 11 item 1: empty trust is no trust); and artifacts re-labelled `env: staging` with the
signature dropped (item 2: the door, not the artifact, says where it goes).
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.support import (
    NOW,
    T1_GOOD,
    T2_GOOD,
    decide_t1,
    decide_t2,
    example_folders,
    expected,
    explain,
    t1_good,
    t1_inputs,
    t2_inputs,
)
from webhook.pipelines import Engine

FOLDERS = example_folders()


def _env_of(folder: Path) -> str:
    if folder.name.startswith("t1"):
        return str(json.loads((folder / "migration_manifest.json").read_text())["env"])
    text = (folder / "replication_manifest.yaml").read_text()
    return "staging" if "env: staging" in text else "prod"


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_every_example_at_the_prod_door(folder: Path) -> None:
    from webhook.artifacts import migration_inputs

    eng = Engine.load(trust_dir=folder / "trust")
    if folder.name.startswith("t1"):
        d = decide_t1(migration_inputs(folder), eng)
    else:
        d = decide_t2(t2_inputs(folder), eng)
    if _env_of(folder) == "prod":
        assert d.decision == expected(folder)["decision"], explain(d)
    else:
        assert d.decision == "BLOCK", "a staging artifact was ALLOWed at the prod door"


@pytest.mark.parametrize("trust", ["none", "empty-dir"])
def test_good_examples_block_without_trust(trust: str, tmp_path: Path) -> None:
    eng = Engine.load(trust_dir=None if trust == "none" else tmp_path)
    d1 = decide_t1(t1_inputs(dict(t1_good())), eng)
    d2 = decide_t2(t2_inputs(T2_GOOD), eng)
    for d in (d1, d2):
        assert d.decision == "BLOCK"
        assert any("trust" in r.policy or "trust" in r.message for r in d.reasons), explain(d)


def test_cli_without_trust_dir_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from webhook.cli import main

    monkeypatch.delenv("MIGRATION_GATE_TRUST_DIR", raising=False)
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["validate", "migration", str(T1_GOOD), "--output", "json"])
    assert code == 1
    assert json.loads(out.getvalue())["decision"] == "BLOCK"


@settings(max_examples=20)
@given(
    where=st.sampled_from(["manifest", "config", "both"]),
    keep_signature=st.booleans(),
)
def test_relabelled_staging_blocks_at_prod(where: str, keep_signature: bool) -> None:
    """Rewrite env to staging (and re-pin the config hash): prod must still BLOCK."""
    files = dict(t1_good())
    config = files["app-config.yaml"]
    manifest = json.loads(files["migration_manifest.json"])
    if where in ("config", "both"):
        config = config.replace(b"env: prod", b"env: staging")
    if where in ("manifest", "both"):
        manifest["env"] = "staging"
    manifest["config_sha256"] = hashlib.sha256(config).hexdigest()
    raw = (json.dumps(manifest, indent=2) + "\n").encode()
    new: dict[str, bytes | None] = {
        "migration_manifest.json": raw,
        "app-config.yaml": config,
        "migration_manifest.dsse.json": files["migration_manifest.dsse.json"]
        if keep_signature
        else None,
    }
    d = decide_t1(t1_inputs(new))
    assert d.decision == "BLOCK", explain(d)


def test_t2_relabelled_staging_blocks_at_prod() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        import shutil

        f = Path(tmp) / "t2"
        shutil.copytree(T2_GOOD, f)
        m = f / "replication_manifest.yaml"
        m.write_text(m.read_text().replace("env: prod", "env: staging"))
        for drop in (False, True):
            if drop:
                (f / "snapshot.dsse.json").unlink()
            d = decide_t2(t2_inputs(f))
            assert d.decision == "BLOCK", explain(d)
    assert NOW.year == 2027
