"""With `--api-tls true` the UI is HTTPS and its session cookie is Secure, in a real browser."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EXAMPLES, TOKENS, Gate, start_gate
from tests.ui.conftest import CHROMIUM, FLAGS
from webhook.ui.sessions import SESSION_COOKIE


@pytest.fixture(scope="module")
def tls_gate(tmp_path_factory: pytest.TempPathFactory, tools: None) -> Iterator[Gate]:
    gate = start_gate(
        tmp_path_factory.mktemp("ui-tls"), "--api-tls", "true",
        "--trust-dir", str(EXAMPLES / "t1_good" / "trust"), tokens=dict(TOKENS),
    )  # fmt: skip
    yield gate
    gate.stop()


def test_https_ui_sets_a_secure_session_cookie(
    playwright_driver: Any, tls_gate: Gate, tmp_path: Path
) -> None:
    assert tls_gate.api.startswith("https://")
    profile = tmp_path / "profile"
    # the dev CA is not in the fresh profile's trust store: accept the gate's dev certificate
    context = playwright_driver.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
        ignore_https_errors=True,
    )  # fmt: skip
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(tls_gate.api + "/ui/login")
        page.get_by_label("Token").fill(TOKENS["viewer"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(tls_gate.api + "/ui/")
        (cookie,) = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/ui"
        assert "viewer-user" in page.content()
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)
