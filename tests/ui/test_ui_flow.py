"""The operator's whole round in a real browser, each page checked (axe, console, screenshot)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.conftest import EXAMPLES, Gate
from tests.ui.conftest import Browser

MIGRATION_PARTS = (
    ("Migration manifest", "migration_manifest.json"),
    ("App config", "app-config.yaml"),
    ("Signature", "migration_manifest.dsse.json"),
)
REPLICATION_PARTS = (
    ("Replication manifest", "replication_manifest.yaml"),
    ("Snapshot", "snapshot.tar.gz"),
    ("Attestation", "snapshot.dsse.json"),
)


def validate_migration(b: Browser, folder: Path, shot: str | None = None) -> str:
    b.visit("/ui/migration")
    for label, name in MIGRATION_PARTS:
        if (folder / name).exists():
            b.page.get_by_label(re.compile("^" + label)).set_input_files(str(folder / name))
    b.page.get_by_role("button", name="Validate").click()
    b.page.wait_for_selector("#result-h")
    b.check(shot)
    return request_id(b)


def validate_replication(b: Browser, folder: Path, shot: str | None = None) -> str:
    b.visit("/ui/replication")
    for label, name in REPLICATION_PARTS:
        if (folder / name).exists():
            b.page.get_by_label(re.compile("^" + label)).set_input_files(str(folder / name))
    wal = sorted((folder / "wal_files").iterdir()) if (folder / "wal_files").is_dir() else []
    if wal:
        b.page.get_by_label("WAL files").set_input_files([str(p) for p in wal])
    b.page.get_by_role("button", name="Validate").click()
    b.page.wait_for_selector("#result-h")
    b.check(shot)
    return request_id(b)


def request_id(b: Browser) -> str:
    return str(b.page.locator("#result-h ~ dl.facts dd code").first.inner_text())


def verdict(b: Browser) -> str:
    return str(b.page.locator("#result-h .verdict").inner_text())


def reasons(b: Browser) -> set[str]:
    return set(b.page.locator(".result table tbody tr td:first-child code").all_inner_texts())


def test_operator_round(browser: Browser, gate: Gate) -> None:
    b = browser
    # signing in: the form, a wrong token (the page never says what was wrong), the right one
    b.visit("/ui/login", "login")
    b.page.get_by_label("Token").fill("not-a-token")
    b.expect_console("401")
    b.page.get_by_role("button", name="Sign in").click()
    b.page.wait_for_selector(".msg-error")
    assert b.page.locator(".msg-error").inner_text() == (
        "Refused: Sign-in failed. Check the token and try again."
    )
    b.check()
    b.expect_console()
    b.login()
    b.check("dashboard-empty")

    rid_good = validate_migration(b, EXAMPLES / "t1_good", "migration-allow")
    assert verdict(b) == "ALLOW"
    validate_migration(b, EXAMPLES / "t1_bad_privileged", "migration-block")
    assert verdict(b) == "BLOCK" and {"no-privileged", "no-root"} <= reasons(b)
    rid_bad = validate_migration(b, EXAMPLES / "t1_bad_hash_mismatch")
    assert verdict(b) == "BLOCK" and "config-hash-mismatch" in reasons(b), reasons(b)
    rid_rep = validate_replication(b, EXAMPLES / "t2_good", "replication-allow")
    assert verdict(b) == "ALLOW"
    rid_rep_bad = validate_replication(b, EXAMPLES / "t2_bad_wal_tampered", "replication-block")
    assert verdict(b) == "BLOCK" and reasons(b)

    # every decision is in the audit log, found by its request id, its record opened
    for rid, verdict_text in (
        (rid_good, "ALLOW"), (rid_bad, "BLOCK"), (rid_rep, "ALLOW"), (rid_rep_bad, "BLOCK"),
    ):  # fmt: skip
        b.visit("/ui/audit")
        b.page.get_by_label("Request id").fill(rid)
        b.page.get_by_role("button", name="Apply filters").click()
        rows = b.page.locator("table.records tbody tr")
        assert rows.count() == 1
        assert "ui" in rows.first.inner_text() and verdict_text in rows.first.inner_text()
        b.check("audit-filtered" if rid == rid_bad else None)
        rows.first.locator("a").first.click()
        b.page.wait_for_selector("h1:has-text('Audit record')")
        text = b.page.content()
        assert rid in text and "Prev hash" in text and "chain intact up to seq" in text
        b.check("audit-record" if rid == rid_bad else None)
    b.visit("/ui/audit", "audit")

    # the dashboard now has bars; then acknowledge an alert
    b.visit("/ui/", None)
    assert b.page.locator("svg.chart rect.c-block").count() >= 1
    b.check("dashboard", widths=(375,))
    b.visit("/ui/alerts", "alerts")
    first = b.page.get_by_role("button", name="Acknowledge alert").first
    first.click()
    b.page.wait_for_selector(".msg-ok")
    assert "acknowledged." in b.page.locator(".msg-ok").inner_text()
    assert "by operator-user at" in b.page.content()
    b.check("alerts-acknowledged")
    b.visit("/ui/migration", None)
    b.check("migration-form", widths=(375,))
    b.logout()
    b.check()
    b.page.goto(b.url("/ui/audit"))
    assert b.page.url.startswith(b.url("/ui/login"))
