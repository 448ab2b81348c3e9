"""What the browser must not get away with: roles, CSRF, sessions, the CSP, bad uploads."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.conftest import EXAMPLES, TOKENS, Gate
from tests.ui.conftest import Browser
from tests.ui.test_ui_flow import validate_migration, verdict
from webhook.server.auth import TokenStore
from webhook.ui.keys import load_session_key
from webhook.ui.security import CSP
from webhook.ui.sessions import SESSION_COOKIE, SESSION_TTL, Sessions

GOOD = EXAMPLES / "t1_good"


def audit_count(b: Browser) -> int:
    b.page.goto(b.url("/ui/audit"))
    return int(b.page.locator("table.records tbody tr").count())


def test_viewer_reads_but_cannot_validate_or_acknowledge(browser: Browser) -> None:
    b = browser
    b.login("operator")
    validate_migration(b, EXAMPLES / "t1_bad_privileged")
    b.logout()
    b.login("viewer")
    b.visit("/ui/migration", "migration-viewer")
    assert b.page.locator("input[type=file]").count() == 0
    assert "needs an operator token" in b.page.content()
    b.visit("/ui/alerts")
    assert b.page.get_by_role("button", name="Acknowledge alert").count() == 0
    # posting anyway, with the viewer's own session and CSRF token: refused
    csrf = b.page.locator("input[name=csrf_token]").first.get_attribute("value")
    r = b.page.request.post(
        b.url("/ui/migration"),
        multipart={"csrf_token": csrf or "", "migration_manifest.json": {
            "name": "m.json", "mimeType": "application/json",
            "buffer": (GOOD / "migration_manifest.json").read_bytes()}},
    )  # fmt: skip
    assert r.status == 403 and "needs operator" in r.text()
    r = b.page.request.post(b.url("/ui/alerts/1/ack"), form={"csrf_token": csrf or ""})
    assert r.status == 403


def test_missing_or_forged_csrf_is_refused(browser: Browser) -> None:
    b = browser
    b.login()
    before = audit_count(b)
    b.expect_console("403")
    for script in (
        "document.querySelector('form.upload input[name=csrf_token]').remove()",
        "document.querySelector('form.upload input[name=csrf_token]').value = 'forged'",
    ):
        b.page.goto(b.url("/ui/migration"))
        b.page.get_by_label(re.compile("^Migration manifest")).set_input_files(
            str(GOOD / "migration_manifest.json")
        )
        b.page.get_by_label(re.compile("^App config")).set_input_files(
            str(GOOD / "app-config.yaml")
        )
        b.page.evaluate(script)
        b.page.get_by_role("button", name="Validate").click()
        b.page.wait_for_selector(".msg-error")
        assert "CSRF" in b.page.locator(".msg-error").inner_text()
        b.check("csrf-refused" if "forged" in script else None)
    b.expect_console()
    assert audit_count(b) == before


def test_tampered_or_expired_session_is_refused(browser: Browser, gate: Gate) -> None:
    b = browser
    b.login()
    (cookie,) = [c for c in b.context.cookies() if c["name"] == SESSION_COOKIE]
    payload, ts, sig = cookie["value"].rsplit(".", 2)
    store = TokenStore.load(gate.state / "operator-token")
    principal = store.authenticate(TOKENS["operator"])
    assert principal is not None
    key = load_session_key(gate.state)
    expired = Sessions(key, store, clock=lambda: 1_000_000).issue(principal, TOKENS["operator"])
    assert Sessions(key, store).verify(expired) is None
    for value in (f"{payload}.{ts}.{sig[::-1]}", f"{payload[:-3]}abc.{ts}.{sig}", expired):
        b.context.add_cookies([{**cookie, "value": value}])
        b.page.goto(b.url("/ui/alerts"))
        assert b.page.url.startswith(b.url("/ui/login")), value
    assert SESSION_TTL > 0


def test_the_csp_holds(browser: Browser) -> None:
    b = browser
    b.login()
    response = b.page.goto(b.url("/ui/audit"))
    assert response is not None and response.headers["content-security-policy"] == CSP
    b.check()
    b.expect_console("Content Security Policy", "Refused to")
    outcome = b.page.evaluate(
        """() => new Promise(resolve => {
            const seen = [];
            document.addEventListener(
                'securitypolicyviolation', e => seen.push(e.violatedDirective));
            const s = document.createElement('script');
            s.textContent = 'window.__injected = true';
            document.body.appendChild(s);
            const st = document.createElement('style');
            st.textContent = 'body { background: rgb(255, 0, 0) }';
            document.head.appendChild(st);
            const img = document.createElement('img');
            img.src = 'https://example.invalid/x.png';
            document.body.appendChild(img);
            setTimeout(() => resolve({
                injected: window.__injected === true,
                background: getComputedStyle(document.body).backgroundColor,
                seen,
            }), 300);
        })"""
    )
    assert outcome["injected"] is False
    assert outcome["background"] != "rgb(255, 0, 0)"
    assert {"script-src-elem", "style-src-elem", "img-src"} <= set(outcome["seen"]), outcome
    b.expect_console()
    b.console.clear()


def test_bad_uploads_show_a_message_and_allow_nothing(
    browser: Browser, gate: Gate, tmp_path: Path
) -> None:
    b = browser
    b.login()
    before = audit_count(b)
    b.expect_console("413", "400")
    big = tmp_path / "app-config.yaml"
    big.write_bytes(b"a: " + b"x" * (1024 * 1024 + 10))
    b.page.goto(b.url("/ui/migration"))
    b.page.get_by_label(re.compile("^Migration manifest")).set_input_files(
        str(GOOD / "migration_manifest.json")
    )
    b.page.get_by_label(re.compile("^App config")).set_input_files(str(big))
    b.page.get_by_role("button", name="Validate").click()
    b.page.wait_for_selector(".msg-error")
    assert "over the 1048576-byte limit" in b.page.locator(".msg-error").inner_text()
    b.check("upload-too-large")
    # a missing file (the browser's `required` check removed): the part is named
    b.page.goto(b.url("/ui/migration"))
    b.page.get_by_label(re.compile("^Migration manifest")).set_input_files(
        str(GOOD / "migration_manifest.json")
    )
    b.page.evaluate("document.getElementById('config').removeAttribute('required')")
    b.page.get_by_role("button", name="Validate").click()
    b.page.wait_for_selector(".msg-error")
    assert "missing part 'app-config.yaml'" in b.page.locator(".msg-error").inner_text()
    b.check()
    b.expect_console()
    assert audit_count(b) == before  # nothing decided
    # wrong file types: decided, never ALLOWed
    png = tmp_path / "manifest.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    b.page.goto(b.url("/ui/migration"))
    b.page.get_by_label(re.compile("^Migration manifest")).set_input_files(str(png))
    b.page.get_by_label(re.compile("^App config")).set_input_files(str(png))
    b.page.get_by_role("button", name="Validate").click()
    b.page.wait_for_selector("#result-h")
    assert verdict(b) == "BLOCK"
    b.check()
    assert not list((gate.state / "tmp").glob("upload-*"))  # no spool left behind
