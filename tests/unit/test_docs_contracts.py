"""docs/contracts.md documents every field of the Decision, its reasons and steps, the audit
record, and every reason id the gate emits itself; a field or id added in code without a row
here fails.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from webhook.audit.models import AuditRecord
from webhook.contracts.decision import Decision, Reason, Step
from webhook.contracts.reasons import BUILTIN_REASONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|", re.M)


def section_rows(title: str) -> set[str]:
    """First-column names of the tables under the heading `title` (up to the next heading)."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"^#+ {re.escape(title)}\n(.*?)(?=^#)", text + "\n#", re.S | re.M)
    assert match, f"docs/contracts.md has no heading {title!r}"
    return set(_ROW.findall(match.group(1)))


@pytest.mark.parametrize(
    ("title", "model"),
    [("Decision", Decision), ("Reason", Reason), ("Step", Step), ("Audit record", AuditRecord)],
)
def test_every_field_has_a_row(title: str, model: type[BaseModel]) -> None:
    rows = section_rows(title)
    fields = set(model.model_fields)
    assert fields - rows == set(), f"undocumented {model.__name__} fields"
    assert rows - fields == set(), f"rows for fields {model.__name__} does not have"


def test_every_builtin_reason_has_a_row() -> None:
    rows = section_rows("Built-in reasons")
    assert set(BUILTIN_REASONS) - rows == set()
    assert rows - set(BUILTIN_REASONS) == set()
