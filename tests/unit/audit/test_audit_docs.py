"""docs/audit.md stays true: its offline verifier works on a real export and catches an edit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.unit.audit.helpers import PYTHON, REPO
from webhook.audit import AuditStore, export_jsonl
from webhook.audit.canonical import RECORD_FIELDS


def offline_script(tmp_path: Path) -> Path:
    text = (REPO / "docs" / "audit.md").read_text()
    (code,) = re.findall(r"```python\n(# verify_audit_export\.py.*?)```", text, re.S)
    script = tmp_path / "verify_audit_export.py"
    script.write_text(code)
    return script


def test_offline_script_verifies_an_export(filled: AuditStore, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    export_jsonl(filled.path, out)
    script = offline_script(tmp_path)
    done = subprocess.run(
        [PYTHON, str(script), str(out)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"head seq 10 hash {filled.verify().head_hash}" in done.stdout

    lines = out.read_text().splitlines()
    lines[3] = lines[3].replace('"decision":"ALLOW"', '"decision":"BLOCK"')
    out.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [PYTHON, str(script), str(out)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and "BROKEN at seq 4" in done.stderr


def test_documented_fields_are_the_record_fields() -> None:
    text = (REPO / "docs" / "audit.md").read_text()
    table = re.findall(r"^\| `(\w+)` \|", text.split("## Canonical encoding")[0], re.M)
    assert table == list(RECORD_FIELDS)
