"""Keyboard use, visible focus, and no sideways scrolling of the page at 375 px."""

from __future__ import annotations

from tests.integration.conftest import TOKENS
from tests.ui.conftest import Browser

PAGES = ("/ui/", "/ui/migration", "/ui/replication", "/ui/audit", "/ui/alerts")


def test_keyboard_only_sign_in_and_navigation(browser: Browser) -> None:
    b = browser
    b.page.goto(b.url("/ui/login"))
    # the token field has the focus on arrival (Chromium runs autofocus after the first layout,
    # which a cold browser may not have done when goto returns: wait for it, up to 5 s)
    b.page.wait_for_function("document.activeElement && document.activeElement.id === 'token'",
                             timeout=5000)  # fmt: skip
    b.page.keyboard.type(TOKENS["operator"])
    b.page.keyboard.press("Enter")
    b.page.wait_for_url(b.url("/ui/"))
    b.page.keyboard.press("Tab")
    assert b.page.evaluate("document.activeElement.className") == "skip"
    # the focus ring is visible (the stylesheet's outline, 3 px)
    assert b.page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    assert b.page.evaluate("getComputedStyle(document.activeElement).outlineWidth") == "3px"
    b.page.keyboard.press("Enter")
    assert b.page.evaluate("document.activeElement.id") == "main"
    b.page.goto(b.url("/ui/"))
    # Tab to the Alerts link and follow it with Enter
    for _ in range(12):
        b.page.keyboard.press("Tab")
        if b.page.evaluate("document.activeElement.textContent") == "Alerts":
            break
    b.page.keyboard.press("Enter")
    b.page.wait_for_url(b.url("/ui/alerts"))
    b.check()


def test_pages_fit_375_px(browser: Browser) -> None:
    b = browser
    b.login()
    b.page.set_viewport_size({"width": 375, "height": 800})
    for path in PAGES:
        b.page.goto(b.url(path))
        width = b.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width} px wide at 375"
        b.check()
