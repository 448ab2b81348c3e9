"""docs/artifacts.md is the complete reference of the artifact models: every field, required or not.

Each section's field tables are compared with the pydantic models the gate validates with: a
field added to a model without a row, a row for a field that is gone, or a required/optional
column that disagrees with the model fails here. A new model must be given a section.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from webhook.contracts import models
from webhook.integrity.dsse import Envelope, EnvelopeSignature

DOC = Path(__file__).resolve().parents[2] / "docs" / "artifacts.md"
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|[^|]*\|\s*(required|optional)\s*\|", re.M)

#: section heading (its start) -> [(model, field-path prefix)]
SECTIONS: dict[str, list[tuple[type[BaseModel], str]]] = {
    "migration_manifest.json": [(models.MigrationManifest, "")],
    "app-config.yaml": [
        (models.AppConfig, ""),
        (models.TlsSettings, "tls."),
        (models.Port, "ports[]."),
        (models.SecuritySettings, "security."),
    ],
    "replication_manifest.yaml": [
        (models.ReplicationManifest, ""),
        (models.WalFile, "wal_files[]."),
    ],
    "DSSE envelopes": [(Envelope, ""), (EnvelopeSignature, "signatures[].")],
    "The signed statement": [
        (models.InTotoStatement, ""),
        (models.ResourceDescriptor, "subject[]."),
        (models.ReplicationPredicate, "predicate."),
    ],
}


def sections() -> dict[str, str]:
    parts = re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {p.split("\n", 1)[0].strip(): p for p in parts[1:]}


def section(title: str) -> str:
    found = [body for heading, body in sections().items() if heading.startswith(title)]
    assert len(found) == 1, f"docs/artifacts.md needs one section '## {title}...'"
    return found[0]


def expected(title: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for model, prefix in SECTIONS[title]:
        for name, info in model.model_fields.items():
            out[prefix + (info.alias or name)] = "required" if info.is_required() else "optional"
    return out


def test_every_artifact_model_has_a_section() -> None:
    documented = {m for pairs in SECTIONS.values() for m, _ in pairs}
    defined = {
        obj
        for _, obj in inspect.getmembers(models, inspect.isclass)
        if issubclass(obj, BaseModel) and obj.__module__ == models.__name__ and obj.model_fields
    }
    assert defined - documented == set(), "add these models to docs/artifacts.md and SECTIONS"


@pytest.mark.parametrize("title", list(SECTIONS))
def test_section_lists_every_field(title: str) -> None:
    rows = dict(_ROW.findall(section(title)))
    want = expected(title)
    missing = sorted(set(want) - set(rows))
    stale = sorted(set(rows) - set(want))
    wrong = sorted(f"{f}: doc says {rows[f]}, model {want[f]}" for f in set(want) & set(rows)
                   if rows[f] != want[f])  # fmt: skip
    assert not missing, f"fields missing from docs/artifacts.md '{title}': {missing}"
    assert not stale, f"rows for fields the models do not have in '{title}': {stale}"
    assert not wrong, f"required/optional disagrees in '{title}': {wrong}"


def test_examples_in_the_doc_are_the_shipped_files() -> None:
    """The YAML/JSON examples are copied from examples/: they must still be those files."""
    root = DOC.parents[1] / "examples"
    text = DOC.read_text(encoding="utf-8")
    for name in ("t1_good/migration_manifest.json", "t1_good/app-config.yaml",
                 "t2_good/replication_manifest.yaml"):  # fmt: skip
        assert (root / name).read_text(encoding="utf-8").strip() in text, name
