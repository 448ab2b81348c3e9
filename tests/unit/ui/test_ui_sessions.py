"""Sign-in, sessions, the session key: what a browser holds, and what the gate refuses."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from tests.unit.ui.conftest import TOKENS, UiGate, csrf_of, token_store
from webhook.server.auth import Principal
from webhook.ui.keys import KEY_FILE_ENV, load_session_key
from webhook.ui.ratelimit import MAX_FAILURES
from webhook.ui.security import CSP
from webhook.ui.sessions import SESSION_COOKIE, SESSION_TTL, Sessions

PAGES = ("/ui/", "/ui/migration", "/ui/replication", "/ui/audit", "/ui/alerts")


def _set_cookie(r: Any, name: str) -> str:
    for value in r.headers.get_list("set-cookie"):
        if value.startswith(name + "="):
            return str(value)
    raise AssertionError(f"no {name} cookie set: {r.headers.get_list('set-cookie')}")


def test_login_sets_a_strict_httponly_cookie_holding_no_token(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        cookie = c.cookies[SESSION_COOKIE]
        assert TOKENS["operator"] not in cookie
        page = c.get("/ui/")
        assert page.status_code == 200 and "operator-user" in page.text
        assert TOKENS["operator"] not in page.text
    with ui.client() as c:
        form = c.get("/ui/login")
        r = c.post("/ui/login", data={"token": TOKENS["viewer"], "csrf_token": csrf_of(form.text)})
        attrs = _set_cookie(r, SESSION_COOKIE).lower()
        assert "httponly" in attrs and "samesite=strict" in attrs and "path=/ui" in attrs
        assert f"max-age={SESSION_TTL}" in attrs
        assert "secure" not in attrs  # plain http: a Secure cookie would never come back


def test_cookie_is_secure_under_tls(ui: UiGate) -> None:
    with ui.client("https://gate.test") as c:
        form = c.get("/ui/login")
        assert "secure" in _set_cookie(form, "mg_login").lower()
        r = c.post("/ui/login", data={"token": TOKENS["viewer"], "csrf_token": csrf_of(form.text)})
        assert "; secure" in _set_cookie(r, SESSION_COOKIE).lower()


def test_failed_login_says_nothing_about_what_was_wrong(ui: UiGate) -> None:
    with ui.client() as c:
        for token in ("wrong-token", TOKENS["operator"] + "x", ""):
            form = c.get("/ui/login")
            r = c.post("/ui/login", data={"token": token, "csrf_token": csrf_of(form.text)})
            assert r.status_code == 401
            assert "Sign-in failed. Check the token and try again." in r.text
            assert SESSION_COOKIE not in c.cookies
            if token:
                assert token not in r.text


def test_login_form_needs_its_own_nonce(ui: UiGate) -> None:
    with ui.client() as c:
        r = c.post("/ui/login", data={"token": TOKENS["operator"], "csrf_token": "forged"})
        assert r.status_code == 403 and SESSION_COOKIE not in c.cookies
        c.get("/ui/login")
        r = c.post("/ui/login", data={"token": TOKENS["operator"]})
        assert r.status_code == 403 and SESSION_COOKIE not in c.cookies


def test_login_is_rate_limited_per_client(ui: UiGate) -> None:
    with ui.client() as c:
        for _ in range(MAX_FAILURES):
            form = c.get("/ui/login")
            r = c.post("/ui/login", data={"token": "guess", "csrf_token": csrf_of(form.text)})
            assert r.status_code == 401
        form = c.get("/ui/login")
        right = {"token": TOKENS["operator"], "csrf_token": csrf_of(form.text)}
        r = c.post("/ui/login", data=right)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert SESSION_COOKIE not in c.cookies


def test_pages_without_a_session_go_to_the_login_form(ui: UiGate) -> None:
    with ui.client() as c:
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 303
            assert r.headers["location"].startswith("/ui/login")
        assert c.get("/ui/audit?decision=BLOCK").headers["location"] == (
            "/ui/login?next=/ui/audit%3Fdecision%3DBLOCK"
        )
        for path in ("/ui/migration", "/ui/alerts/1/ack", "/ui/logout"):
            assert c.post(path, data={"csrf_token": "x"}).status_code == 401


def test_root_redirects_to_the_ui_and_next_is_never_off_site(ui: UiGate) -> None:
    with ui.client() as c:
        assert c.get("/").headers["location"] == "/ui/"
        for target in ("//evil.example/", "https://evil.example/", "/api/v1/alerts", "/ui/\\x"):
            form = c.get("/ui/login")
            r = c.post(
                "/ui/login",
                data={"token": TOKENS["viewer"], "csrf_token": csrf_of(form.text), "next": target},
            )
            assert r.headers["location"] == "/ui/"
            c.cookies.clear()
        form = c.get("/ui/login?next=/ui/alerts")
        assert 'name="next" value="/ui/alerts"' in form.text


def test_tampered_and_expired_sessions_are_refused(ui: UiGate, tmp_path: Path) -> None:
    with ui.client() as c:
        ui.login(c)
        good = c.cookies[SESSION_COOKIE]
        payload, ts, sig = good.rsplit(".", 2)
        for bad in (f"{payload}.{ts}.{sig[:-2]}AA", f"{payload}x.{ts}.{sig}", "garbage"):
            c.cookies.set(SESSION_COOKIE, bad, domain="gate.test", path="/ui")
            r = c.get("/ui/audit")
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    key = load_session_key(tmp_path)
    store = token_store(TOKENS)
    principal = store.authenticate(TOKENS["operator"])
    assert principal is not None
    old = Sessions(key, store, clock=lambda: 1_000_000)
    cookie = old.issue(principal, TOKENS["operator"])
    assert old.verify(cookie) is not None
    later = Sessions(key, store, clock=lambda: 1_000_000 + SESSION_TTL + 1)
    assert later.verify(cookie) is None  # expired
    with ui.client() as c:
        c.cookies.set(SESSION_COOKIE, cookie, domain="gate.test", path="/ui")
        assert c.get("/ui/").status_code == 303  # issued long ago: expired in the gate too


def test_sessions_survive_restarts_and_end_when_the_token_is_revoked(gates: Any) -> None:
    first = gates("state")
    with first.client() as c:
        first.login(c)
        cookie = c.cookies[SESSION_COOKIE]
    again = gates("state")  # same state dir, same key: another replica or a restart
    revoked = gates("state", tokens={"viewer": TOKENS["viewer"]})  # the operator token removed
    other_key = gates("other")
    for gate, status in ((again, 200), (revoked, 303), (other_key, 303)):
        with gate.client() as c:
            c.cookies.set(SESSION_COOKIE, cookie, domain="gate.test", path="/ui")
            assert c.get("/ui/").status_code == status


def test_a_session_names_the_role_it_was_issued_for(tmp_path: Path) -> None:
    key = load_session_key(tmp_path)
    store = token_store(TOKENS)
    sessions = Sessions(key, store)
    cookie = sessions.issue(Principal("viewer-user", "viewer"), TOKENS["viewer"])
    session = sessions.verify(cookie)
    assert session is not None and session.principal.role == "viewer"
    # a cookie claiming another token's name does not verify (fingerprint mismatch)
    forged = sessions.issue(Principal("operator-user", "operator"), TOKENS["viewer"])
    assert sessions.verify(forged) is None


def test_logout_needs_csrf_and_clears_the_cookie(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        assert c.post("/ui/logout", data={"csrf_token": "forged"}).status_code == 403
        csrf = ui.csrf(c, "/ui/")
        r = c.post("/ui/logout", data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        assert SESSION_COOKIE not in c.cookies
        assert c.get("/ui/").status_code == 303


def test_every_page_has_the_security_headers(ui: UiGate) -> None:
    with ui.client() as c:
        login = c.get("/ui/login")
        ui.login(c)
        for r in (login, *(c.get(p) for p in PAGES), c.get("/ui/nope"), c.get("/ui/audit/999")):
            assert r.headers["content-security-policy"] == CSP
            assert "unsafe-inline" not in CSP and "frame-ancestors 'none'" in CSP
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert "<script" not in r.text and "style=" not in r.text
        css = c.get("/ui/static/ui.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert c.get("/ui/nope").status_code == 404


def test_session_key_file_from_env(gates: Any, tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    missing = tmp_path / "absent.key"
    for path, words in ((short, "at least 32"), (missing, "cannot read")):
        gate = gates(path.stem, environ={KEY_FILE_ENV: str(path)})
        with gate.client() as c:
            r = c.get("/ui/login")
            assert r.status_code == 503
            assert words in r.text and "the UI is off" in r.text
            # the API door keeps working
            assert c.get("/api/v1/alerts", headers={"Authorization": "Bearer x"}).status_code == 401
    good = tmp_path / "good.key"
    good.write_bytes(os.urandom(24).hex().encode())
    gate = gates("good", environ={KEY_FILE_ENV: str(good)})
    assert not (gate.state_dir / "ui-session.key").exists()
    with gate.client() as c:
        gate.login(c)


def test_state_dir_key_is_created_once_private(tmp_path: Path) -> None:
    first = load_session_key(tmp_path)
    path = tmp_path / "ui-session.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_session_key(tmp_path) == first and len(first) >= 32
