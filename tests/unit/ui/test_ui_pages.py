"""Audit, alerts and dashboard pages on real decisions; a custom CEL policy BLOCKs in the UI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.unit.ui.conftest import EXAMPLES, ROOT, TOKENS, UiGate, migration_files
from tests.unit.ui.test_ui_validate import alerts, records, ui_post

GOOD, PRIV = EXAMPLES / "t1_good", EXAMPLES / "t1_bad_privileged"
ROWS = re.compile(r'<a href="/ui/audit/(\d+)" aria-label="Record \d+">')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">Older records</a>')


def api(ui: UiGate, c: Any, folder: Path) -> Any:
    return c.post(
        "/api/v1/validate/migration", files=migration_files(folder),
        headers={"Authorization": f"Bearer {TOKENS['operator']}"},
    )  # fmt: skip


def test_audit_filters_keyset_pages_and_record_view(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        for i in range(60):
            api(ui, c, PRIV if i % 3 == 0 else GOOD)
        ui_post(ui, c, "/ui/migration", migration_files(PRIV))
        first = c.get("/ui/audit")
        assert first.status_code == 200
        assert "chain intact up to seq 61 (all 61 checked)" in first.text
        seen = [int(s) for s in ROWS.findall(first.text)]
        assert seen == list(range(61, 11, -1))  # newest first, 50 per page
        nxt = NEXT.search(first.text)
        assert nxt
        second = c.get(nxt.group(1).replace("&amp;", "&"))
        assert [int(s) for s in ROWS.findall(second.text)] == list(range(11, 0, -1))
        assert NEXT.search(second.text) is None and ">Newest</a>" in second.text
        blocks = c.get("/ui/audit?decision=BLOCK&source=api")
        assert [int(s) for s in ROWS.findall(blocks.text)] == list(range(58, 0, -3))
        by_policy = c.get("/ui/audit?policy=no-privileged")
        # 20 API BLOCKs (every third of 60) and the UI's one, all by the store's policy filter
        assert [int(s) for s in ROWS.findall(by_policy.text)] == [61, *range(58, 0, -3)]
        assert ROWS.findall(c.get("/ui/audit?policy=no-such-policy").text) == []
        assert c.get("/ui/audit?policy=" + "p" * 129).status_code == 400
        listed = c.get(
            "/api/v1/audit/logs?policy=no-privileged&limit=500",
            headers={"Authorization": f"Bearer {TOKENS['viewer']}"},
        )
        assert listed.status_code == 200
        assert [r["seq"] for r in listed.json()["records"]] == [61, *range(58, 0, -3)]
        rid = records(ui, source="ui")[0].request_id
        one = c.get(f"/ui/audit?request_id={rid}")
        assert ROWS.findall(one.text) == ["61"]
        none = c.get("/ui/audit?env=staging")
        assert "No records match these filters." in none.text
        since = c.get("/ui/audit?since=2000-01-01T00:00&until=2000-01-02T00:00&dry_run=false")
        assert ROWS.findall(since.text) == []
        bad = c.get("/ui/audit?since=yesterday")
        assert bad.status_code == 400 and "is not a date and time" in bad.text
        assert c.get("/ui/audit?cursor=notacursor").status_code == 400
        record = records(ui, source="ui")[0]
        view = c.get(f"/ui/audit/{record.seq}")
        assert view.status_code == 200
        for value in (record.hash, record.prev_hash, record.request_id, "no-privileged"):
            assert value in view.text
        assert c.get("/ui/audit/999").status_code == 404
        assert c.get("/ui/audit/abc").status_code == 404


def test_filter_values_are_escaped(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        r = c.get('/ui/audit?subject="><script>alert(1)</script>')
        assert "<script>" not in r.text
        assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_alerts_counts_filter_and_acknowledge(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        ui_post(ui, c, "/ui/migration", migration_files(PRIV))
        ui_post(ui, c, "/ui/migration", migration_files(EXAMPLES / "t1_bad_hash_mismatch"))
        found = alerts(ui)
        assert found and all(a.status == "firing" for a in found)
        page = c.get("/ui/alerts")
        assert page.status_code == 200
        assert page.text.index("<h2>Firing") < page.text.index("<h2>Acknowledged")
        sev = found[0].severity
        n = sum(1 for a in found if a.severity == sev)
        assert f'<span class="n">{n}</span> firing {sev}' in page.text
        target = found[0]
        csrf = ui.csrf(c, "/ui/alerts")
        r = c.post(f"/ui/alerts/{target.id}/ack", data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == f"/ui/alerts?acked={target.id}"
        after = c.get(r.headers["location"])
        assert f"Alert {target.id} acknowledged." in after.text
        assert "by operator-user at" in after.text
        acked = next(a for a in alerts(ui) if a.id == target.id)
        assert acked.status == "acknowledged" and acked.acked_by == "operator-user"
        only = c.get("/ui/alerts?status=acknowledged")
        assert "<h2>Firing" not in only.text and f"Acknowledge alert {target.id}" not in only.text
        other = next(s for s in ("P1", "P2", "P3", "P4") if s not in {a.severity for a in found})
        none = c.get(f"/ui/alerts?status=firing&severity={other}")
        assert "No firing alerts." in none.text
        assert c.get("/ui/alerts?status=bogus").status_code == 400
        assert c.post("/ui/alerts/424242/ack", data={"csrf_token": csrf}).status_code == 404


def test_dashboard_draws_the_decisions_as_svg(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        empty = c.get("/ui/")
        assert "No BLOCK in the last 24 hours." in empty.text
        for folder in (GOOD, PRIV, PRIV):
            api(ui, c, folder)
        page = c.get("/ui/")
        assert page.status_code == 200
        assert page.text.count("<svg") == 3
        assert 'class="c-allow"' in page.text and 'class="c-block"' in page.text
        assert "2 BLOCK</title>" in page.text and "1 ALLOW</title>" in page.text
        assert "<code>no-privileged</code></a>: 2" in page.text
        assert "payments: 2" in page.text


CEL_POLICY = """
  - id: no-https-8443
    severity: high
    scenarios: [T1]
    expression: '!config.ports.exists(p, p.port == 8443)'
    message: port 8443 is reserved for the mesh sidecar
    field: ports
    actions: {prod: enforce, staging: warn}
"""


def test_a_custom_cel_policy_blocks_through_the_ui(gates: Any, tmp_path: Path) -> None:
    default = (ROOT / "webhook" / "policies" / "default.yaml").read_text()
    bundle = tmp_path / "bundle.yaml"
    bundle.write_text(default.rstrip("\n") + "\n" + CEL_POLICY)
    ui = gates(policy=bundle)
    with ui.client() as c:
        ui.login(c)
        r = ui_post(ui, c, "/ui/migration", migration_files(GOOD))
        assert r.headers["x-decision"] == "BLOCK"
        assert "<code>no-https-8443</code>" in r.text
        assert "port 8443 is reserved for the mesh sidecar" in r.text
    (saved,) = records(ui)
    assert saved.source == "ui" and [x.policy for x in saved.reasons] == ["no-https-8443"]
