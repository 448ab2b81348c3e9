"""Validation pages: roles, CSRF, bad uploads, and the API's exact decision for the same files."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from tests.unit.ui.conftest import (
    EXAMPLES,
    TOKENS,
    UiGate,
    migration_files,
    replication_files,
)
from webhook.audit import AuditQuery

JSON = re.compile(r'<pre class="json" tabindex="0">(.*?)</pre>', re.S)
GOOD, T2_GOOD = EXAMPLES / "t1_good", EXAMPLES / "t2_good"


def multipart(parts: list[tuple[bytes, bytes | None, bytes]]) -> bytes:
    """A multipart body with raw bytes in the headers (httpx encodes names as UTF-8)."""
    out = b""
    for name, filename, data in parts:
        disp = b'form-data; name="' + name + b'"'
        if filename is not None:
            disp += b'; filename="' + filename + b'"'
        out += b"--BoUnDaRy\r\nContent-Disposition: " + disp + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--BoUnDaRy--\r\n"


def records(ui: UiGate, **filters: Any) -> list[Any]:
    store = ui.apps.gate.state.store
    assert store is not None
    return store.query(AuditQuery(limit=500, **filters)).records


def alerts(ui: UiGate) -> list[Any]:
    store = ui.apps.gate.state.store
    assert store is not None
    return store.alerts.list(limit=500).alerts


def page_decision(text: str) -> dict[str, Any]:
    found = JSON.search(text)
    assert found, "no decision JSON on the page"
    return json.loads(html.unescape(found.group(1)))


def ui_post(ui: UiGate, c: Any, path: str, files: Any, **data: str) -> Any:
    return c.post(path, files=files, data={"csrf_token": ui.csrf(c, path), **data})


def test_operator_validates_migration_and_replication(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        good = ui_post(ui, c, "/ui/migration", migration_files(GOOD))
        assert good.status_code == 200 and good.headers["x-decision"] == "ALLOW"
        assert page_decision(good.text)["decision"] == "ALLOW"
        bad = ui_post(ui, c, "/ui/migration", migration_files(EXAMPLES / "t1_bad_privileged"))
        assert bad.headers["x-decision"] == "BLOCK"
        for policy in ("no-privileged", "no-root"):
            assert f"<code>{policy}</code>" in bad.text
        rep = ui_post(ui, c, "/ui/replication", replication_files(T2_GOOD))
        assert rep.headers["x-decision"] == "ALLOW", rep.text[-2000:]
        tampered = ui_post(
            ui, c, "/ui/replication", replication_files(EXAMPLES / "t2_bad_wal_tampered")
        )
        assert tampered.headers["x-decision"] == "BLOCK"
    saved = records(ui)
    assert [r.source for r in saved] == ["ui"] * 4
    assert [r.decision for r in saved] == ["BLOCK", "ALLOW", "BLOCK", "ALLOW"]
    assert {r.subject.get("app_id") for r in saved if r.scenario == "T1"} == {"payments"}
    # the result links its audit record
    assert f'href="/ui/audit/{saved[0].seq}"' in tampered.text
    assert not ui.spools()


def test_same_files_give_the_api_decision_bytes(ui: UiGate) -> None:
    cases = [
        ("migration", migration_files(f))
        for f in (GOOD, EXAMPLES / "t1_bad_privileged", EXAMPLES / "t1_bad_unsigned")
    ] + [("replication", replication_files(EXAMPLES / "t2_bad_wal_order"))]
    with ui.client() as c:
        ui.login(c)
        for kind, files in cases:
            api = c.post(
                f"/api/v1/validate/{kind}", files=files,
                headers={"Authorization": f"Bearer {TOKENS['operator']}"},
            )  # fmt: skip
            page = ui_post(ui, c, f"/ui/{kind}", files)
            found = JSON.search(page.text)
            assert found
            ui_bytes = html.unescape(found.group(1)).encode()
            api_body, ui_body = json.loads(api.content), json.loads(ui_bytes)
            for body in (api_body, ui_body):
                body.pop("request_id")
                body.pop("timestamp")
            assert api_body == ui_body
            # and byte for byte once id and time are put back the same
            assert ui_bytes == api.content.replace(
                json.loads(api.content)["request_id"].encode(), ui_body_id(ui_bytes)
            ).replace(json.loads(api.content)["timestamp"].encode(), ui_body_ts(ui_bytes))
    assert [r.source for r in records(ui)] == ["ui", "api"] * len(cases)


def ui_body_id(raw: bytes) -> bytes:
    return str(json.loads(raw)["request_id"]).encode()


def ui_body_ts(raw: bytes) -> bytes:
    return str(json.loads(raw)["timestamp"]).encode()


def test_viewer_may_read_but_not_validate_or_acknowledge(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        ui_post(ui, c, "/ui/migration", migration_files(EXAMPLES / "t1_bad_privileged"))
        alert_id = alerts(ui)[0].id
    with ui.client() as c:
        ui.login(c, "viewer")
        for path in ("/ui/", "/ui/audit", "/ui/alerts", "/ui/audit/1"):
            assert c.get(path).status_code == 200
        form = c.get("/ui/migration")
        assert "needs an operator token" in form.text and 'type="file"' not in form.text
        assert "Acknowledge</button>" not in c.get("/ui/alerts").text
        csrf = ui.csrf(c, "/ui/")
        r = c.post("/ui/migration", files=migration_files(GOOD), data={"csrf_token": csrf})
        assert r.status_code == 403 and "needs operator" in r.text
        r = c.post(f"/ui/alerts/{alert_id}/ack", data={"csrf_token": csrf})
        assert r.status_code == 403
    assert len(records(ui)) == 1
    assert alerts(ui)[0].status == "firing"


def test_missing_or_forged_csrf_is_refused_before_any_decision(ui: UiGate) -> None:
    with ui.client() as c:
        ui.login(c)
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
            r = c.post("/ui/migration", files=migration_files(GOOD), data=data)
            assert r.status_code == 403 and "CSRF" in r.text
            r = c.post("/ui/replication", files=replication_files(T2_GOOD), data=data)
            assert r.status_code == 403
        ui_post(ui, c, "/ui/migration", migration_files(EXAMPLES / "t1_bad_privileged"))
        alert_id = alerts(ui)[0].id
        assert c.post(f"/ui/alerts/{alert_id}/ack", data={"csrf_token": "x"}).status_code == 403
        # another session's token is not this session's
        with ui.client() as other:
            ui.login(other)
            theirs = ui.csrf(other)
        assert c.post(f"/ui/alerts/{alert_id}/ack", data={"csrf_token": theirs}).status_code == 403
        # a cross-site post is refused even with the right token
        csrf = ui.csrf(c)
        r = c.post(
            "/ui/migration", files=migration_files(GOOD), data={"csrf_token": csrf},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        )  # fmt: skip
        assert r.status_code == 403
    assert len(records(ui)) == 1 and alerts(ui)[0].status == "firing"
    assert not ui.spools()


def test_bad_uploads_get_a_message_and_a_4xx_and_nothing_is_decided(gates: Any) -> None:
    ui = gates(max_small_part=64 * 1024, max_upload=256 * 1024)
    files = dict(migration_files(GOOD))
    with ui.client() as c:
        ui.login(c)
        csrf = ui.csrf(c)
        big = [*migration_files(GOOD)[:1], ("app-config.yaml", ("c.yaml", b"x" * (65 * 1024)))]
        cases: list[tuple[Any, int, str]] = [
            (dict(files=big, data={"csrf_token": csrf}), 413, "over the 65536-byte limit"),
            (
                dict(files=[("snapshot.tar.gz", ("s", b"x" * 300_000))], data={"csrf_token": csrf}),
                413, "",
            ),
            (dict(data={"csrf_token": csrf}), 415, "multipart/form-data"),
            (
                dict(files=[("migration_manifest.json", files["migration_manifest.json"])],
                     data={"csrf_token": csrf}),
                400, "missing part &#39;app-config.yaml&#39;",
            ),
            (dict(files=[("nope", ("x", b"1"))], data={"csrf_token": csrf}), 400, "unknown part"),
        ]  # fmt: skip
        for kw, status, words in cases:
            r = c.post("/ui/migration", **kw)
            assert r.status_code == status, r.text[-1500:]
            assert words in r.text
            assert 'role="alert"' in r.text and 'type="file"' in r.text  # the form again
        rcsrf = ui.csrf(c, "/ui/replication")
        rep = replication_files(T2_GOOD)
        no_snapshot = [f for f in rep if f[0] != "snapshot.tar.gz"]
        r = c.post("/ui/replication", files=no_snapshot, data={"csrf_token": rcsrf})
        assert r.status_code == 400 and "missing part &#39;snapshot.tar.gz&#39;" in r.text
        raw = [(b"csrf_token", None, rcsrf.encode())]
        raw += [(n.encode(), f.encode(), d) for n, (f, d) in rep]
        raw.append((b"wal_files", b"\xff000000010000000000000009", b"wal"))
        r = c.post(
            "/ui/replication", content=multipart(raw),
            headers={"Content-Type": "multipart/form-data; boundary=BoUnDaRy"},
        )  # fmt: skip
        assert r.status_code == 400 and "not valid UTF-8" in r.text
        head = [(b"csrf_token", None, rcsrf.encode()), (b"env", None, b"staging")]
        head += [(n.encode(), f.encode(), d) for n, (f, d) in rep[:2]]
        ctype = {"Content-Type": "multipart/form-data; boundary=BoUnDaRy"}
        unnamed = [*head, (b"snapshot.dsse.json", b"", b"{}")]
        r = c.post("/ui/replication", content=multipart(unnamed), headers=ctype)
        assert r.status_code == 400 and "no file name" in r.text
        # what a browser sends for file inputs left empty: no file at all (the optional
        # attestation and WAL are absent), so the upload is decided
        empty = [*head, (b"snapshot.dsse.json", b"", b""), (b"wal_files", b"", b"")]
        r = c.post("/ui/replication", content=multipart(empty), headers=ctype)
        assert r.status_code == 200 and r.headers["x-decision"] in ("ALLOW", "BLOCK")
    assert [r.source for r in records(ui)] == ["ui"]  # only the last one was decided
    assert not ui.spools()


def test_api_missing_part_is_a_usage_error_not_a_block(ui: UiGate) -> None:
    auth = {"Authorization": f"Bearer {TOKENS['operator']}"}
    with ui.client() as c:
        manifest = (GOOD / "migration_manifest.json").read_bytes()
        r = c.post(
            "/api/v1/validate/migration", headers=auth,
            files=[("migration_manifest.json", ("m", manifest))],
        )  # fmt: skip
        assert r.status_code == 400
        assert r.json() == {
            "error": "missing-part",
            "detail": "missing part 'app-config.yaml' (a migration needs "
            "migration_manifest.json and app-config.yaml)",
        }
        r = c.post("/api/v1/validate/replication", headers=auth, files=[("env", (None, b"prod"))])
        assert r.status_code == 400
        assert "'replication_manifest.yaml', 'snapshot.tar.gz'" in r.json()["detail"]
    assert records(ui) == [] and alerts(ui) == []
    assert not ui.spools()
