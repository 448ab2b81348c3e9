"""The UI level: Debian's Chromium driven by Playwright against a real `migration-gate serve`.

Tools come from `tools/ui/install.sh` (make ui runs it). A missing tool skips the level on a
developer's machine and FAILS it when CI=true or MG_UI_REQUIRED=1: CI never passes by skipping.
Every page a test opens goes through `Browser.visit`/`Browser.check`: axe-core (injected into
the page) must find no serious or critical violation, the console must stay free of errors and
CSP violations, and a screenshot of the page is taken. It lands in MG_UI_SHOTS (default: a
directory in the cache, so `make test` leaves the tree clean); `make ui-screenshots` points it at
docs/ui/ to refresh the committed pictures the README shows.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EXAMPLES, TOKENS, Gate, start_gate

CHROMIUM = Path(os.environ.get("MG_CHROMIUM", "/usr/bin/chromium"))
CACHE = Path(os.environ.get("MG_CACHE", Path.home() / ".cache" / "migration-gate")) / "ui"
AXE = CACHE / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ.get("MG_UI_SHOTS", CACHE / "screenshots"))
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: axe impacts that fail a page
FAILING = ("serious", "critical")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui" in str(item.fspath):
            item.add_marker(pytest.mark.ui)


def required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("MG_UI_REQUIRED") == "1"


def missing_tools() -> list[str]:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"chromium ({CHROMIUM})")
    if not AXE.is_file():
        missing.append(f"axe-core ({AXE})")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright for Python")
    return missing


@pytest.fixture(scope="session")
def tools() -> None:
    missing = missing_tools()
    if missing:
        why = f"UI level needs {', '.join(missing)}: run tools/ui/install.sh (make ui does)"
        if required():
            pytest.fail(why + " [CI=true / MG_UI_REQUIRED=1: not skipped]")
        pytest.skip(why)


@pytest.fixture(scope="session")
def gate(tmp_path_factory: pytest.TempPathFactory, tools: None) -> Iterator[Gate]:
    """A real gate process (examples' trust store), its API (and UI) on plain http."""
    g = start_gate(
        tmp_path_factory.mktemp("ui-gate"),
        "--trust-dir", str(EXAMPLES / "t1_good" / "trust"),
        "--snapshot-root", str(EXAMPLES), "--max-small-part", "1MiB",
        tokens=dict(TOKENS),
    )  # fmt: skip
    yield g
    g.stop()


@dataclass
class Browser:
    """One Chromium page with the checks every page gets."""

    page: Any
    context: Any
    base: str
    console: list[str] = field(default_factory=list)
    allowed_console: list[str] = field(default_factory=list)
    axe_source: str = ""

    def url(self, path: str) -> str:
        return self.base + path

    def visit(self, path: str, shot: str | None = None) -> Any:
        response = self.page.goto(self.url(path))
        self.check(shot)
        return response

    def axe(self) -> list[dict[str, Any]]:
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(self.axe_source)
        result = self.page.evaluate(
            "async () => JSON.stringify((await axe.run(document, {resultTypes: ['violations']}))"
            ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help, "
            "nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"
        )
        return list(json.loads(result))

    def check(self, shot: str | None = None, *, widths: tuple[int, ...] = ()) -> None:
        """axe (no serious/critical), no console error, and the screenshot(s)."""
        bad = [v for v in self.axe() if v["impact"] in FAILING]
        assert not bad, f"{self.page.url}: axe violations {json.dumps(bad, indent=1)}"
        errors = [m for m in self.console if not any(a in m for a in self.allowed_console)]
        assert not errors, f"{self.page.url}: console errors {errors}"
        self.console.clear()
        if shot is not None:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
            for width in widths:
                size = self.page.viewport_size
                self.page.set_viewport_size({"width": width, "height": 900})
                self.page.screenshot(path=str(SHOTS / f"{shot}-{width}.png"), full_page=True)
                self.page.set_viewport_size(size)

    def expect_console(self, *fragments: str) -> None:
        """Console lines a test provokes on purpose (a 4xx page is logged by Chromium)."""
        self.allowed_console[:] = list(fragments)

    def login(self, role: str = "operator") -> None:
        self.page.goto(self.url("/ui/login"))
        self.page.get_by_label("Token").fill(TOKENS[role])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.url("/ui/"))

    def logout(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.wait_for_url(self.url("/ui/login"))


@pytest.fixture(scope="session")
def playwright_driver(tools: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright_driver: Any, gate: Gate, tmp_path: Path) -> Iterator[Browser]:
    """A fresh Chromium profile (user-data-dir under tmp_path) per test, 1440 px wide."""
    profile = tmp_path / "chromium-profile"
    context = playwright_driver.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
        viewport={"width": 1440, "height": 900}, accept_downloads=False,
    )  # fmt: skip
    page = context.pages[0] if context.pages else context.new_page()
    b = Browser(page, context, gate.api, axe_source=AXE.read_text())

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            b.console.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: b.console.append(f"page error: {exc}"))
    try:
        yield b
    finally:
        context.close()
        shutil.rmtree(profile, ignore_errors=True)
