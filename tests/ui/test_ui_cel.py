"""A custom CEL policy BLOCKs through the UI door too, with its id and message, in a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import EXAMPLES, ROOT, TOKENS, Gate, start_gate
from tests.integration.test_cel_doors import CEL_POLICY, MESSAGE, POLICY_ID  # the same policy
from tests.ui.conftest import Browser


@pytest.fixture(scope="module")
def cel_gate(tmp_path_factory: pytest.TempPathFactory, tools: None) -> Iterator[Gate]:
    tmp = tmp_path_factory.mktemp("ui-cel")
    default = (ROOT / "webhook" / "policies" / "default.yaml").read_text()
    bundle = tmp / "bundle.yaml"
    bundle.write_text(default.rstrip("\n") + "\n" + CEL_POLICY)
    gate = start_gate(
        tmp / "gate", "--policy", str(bundle),
        "--trust-dir", str(EXAMPLES / "t1_good" / "trust"), tokens=dict(TOKENS),
    )  # fmt: skip
    yield gate
    gate.stop()


def test_cel_policy_blocks_in_the_browser(browser: Browser, cel_gate: Gate) -> None:
    b = browser
    b.base = cel_gate.api
    b.login()
    b.visit("/ui/migration")
    folder: Path = EXAMPLES / "t1_good"
    for label, name in (
        ("Migration manifest", "migration_manifest.json"), ("App config", "app-config.yaml"),
        ("Signature", "migration_manifest.dsse.json"),
    ):  # fmt: skip
        b.page.get_by_label(re.compile("^" + label)).set_input_files(str(folder / name))
    b.page.get_by_role("button", name="Validate").click()
    b.page.wait_for_selector("#result-h")
    assert b.page.locator("#result-h .verdict").inner_text() == "BLOCK"
    row = b.page.locator(".result table tbody tr").filter(has_text=POLICY_ID)
    assert row.count() == 1
    assert MESSAGE in row.inner_text() and "ports" in row.inner_text()
    b.check("migration-cel-block")
