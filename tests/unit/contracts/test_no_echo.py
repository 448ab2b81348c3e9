"""No secret echoes (issue 11 item 8), through the roots every raiser shares.

A `Reason` as it is built, `validate()`'s schema messages, a whole Decision from the engine,
and the server's response, stdout audit line, store record and log lines: none may carry a
secret-shaped value or the value of a secret-named key, and every echo is capped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from webhook.contracts.decision import Decision, Reason, Step
from webhook.contracts.models import AppConfig, MigrationManifest, validate
from webhook.pipelines import Engine, MigrationInputs

# synthetic values in the shapes of real credentials (never real ones)
AWS = "AKIA" + "Q7WZ" * 4
GH = "ghp_" + "Zq7x" * 9
SLACK = "xoxb-" + "1234567890-abcdefghij"
LIT = "Zq7uniqueLiteral9xW"
SECRETS = (AWS, GH, SLACK, LIT)
REDACTED = "<redacted sha256:"


def test_every_reason_is_redacted_when_it_is_built() -> None:
    r = Reason(
        policy="internal-error",
        severity="high",
        field=f'config["{AWS}"]',
        message=f"step 'x' failed: ValueError: bad {GH} in {'q' * 4000!r}",
        file=f"snapshot/{SLACK}.sql",
    )
    text = r.model_dump_json()
    for s in (AWS, GH, SLACK):
        assert s not in text
    assert len(r.message) < 200
    # read back (audit store, cache) it stays the same
    assert Reason.model_validate_json(text) == r


def test_a_secret_named_field_never_shows_its_value() -> None:
    r = Reason(policy="p", severity="high", field="db.password", message=f"bad (found '{LIT}')")
    assert LIT not in r.message


def test_step_details_and_subjects_are_redacted() -> None:
    assert AWS not in (Step(name="audit", ok=False, detail=f"unwritable: {AWS}").detail or "")
    d = Decision(
        request_id="r",
        timestamp="t",
        scenario="T1",
        decision="BLOCK",
        subject={"version": GH + "v" * 5000},
        policy_bundle="b",
    )
    assert GH not in d.subject["version"] and len(d.subject["version"]) < 300


def test_schema_errors_do_not_echo_secrets() -> None:
    _, problems = validate(
        MigrationManifest,
        {"app_id": "a", "env": AWS, "version": "1", "config_sha256": "y" * 70_000},
    )
    text = json.dumps(problems)
    assert AWS not in text and "(70000 bytes)" in text and len(text) < 600
    _, problems = validate(AppConfig, {"app_id": "a", "env": "prod", "secrets_ref": 12345})
    assert problems == [("secrets_ref", "Input should be a valid string (found 12345)")]


class _WithSecret(BaseModel):
    model_config = ConfigDict(strict=True)
    db_password: int


def test_schema_errors_under_a_secret_named_key_show_only_a_length() -> None:
    _, problems = validate(_WithSecret, {"db_password": LIT})
    assert problems == [
        (
            "db_password",
            f"Input should be a valid integer (found a literal value ({len(LIT)} chars))",
        )
    ]


# --- through the engine -------------------------------------------------------------------------

CONFIG = f"""\
app_id: payments
env: prod
tls: {{enabled: "{AWS}", min_version: "1.3"}}
ports:
  - {{name: https, port: 8443, bind: "{SLACK}", exposure: internal}}
secrets_ref: vault://kv/payments/prod
security: {{run_as_root: false, privileged: false, capabilities: []}}
upstream: {GH}
db: {{password: {LIT}}}
"""


def _inputs(config: bytes, version: str = "4.2.0") -> MigrationInputs:
    manifest = {
        "app_id": "payments",
        "env": "prod",
        "version": version,
        "config_sha256": hashlib.sha256(config).hexdigest(),
    }
    return MigrationInputs(manifest=json.dumps(manifest).encode(), config=config)


def test_the_engine_decision_echoes_no_secret() -> None:
    decision = Engine.load().validate_migration(_inputs(CONFIG.encode(), version=f"1-{GH}"))
    text = decision.to_json()
    assert decision.decision == "BLOCK"
    policies = set(decision.policy_ids())
    assert {"input-invalid", "no-inline-secrets"} <= policies
    for s in SECRETS:
        assert s not in text, s
    assert REDACTED in text


def test_an_unparseable_document_echoes_no_secret() -> None:
    config = f"app_id: payments\n{AWS}: 1\n{AWS}: 2\n".encode()
    text = Engine.load().validate_migration(_inputs(config)).to_json()
    assert AWS not in text and "duplicate key" in text


# --- through the server ---------------------------------------------------------------------------

GOOD = Path(__file__).resolve().parents[3] / "examples" / "t1_good"


def test_server_response_audit_line_record_and_logs_echo_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    import httpx

    from webhook.audit import AuditQuery, open_store
    from webhook.server.api import MIGRATION_PATH
    from webhook.server.app import build_apps
    from webhook.server.auth import TokenStore, hash_token
    from webhook.server.gate import GateState
    from webhook.server.settings import ServerSettings

    token = "mg_op_" + "a" * 30
    inputs = _inputs(CONFIG.encode(), version=f"1-{GH}")
    assert inputs.manifest is not None and inputs.config is not None
    parts = [("migration_manifest.json", inputs.manifest), ("app-config.yaml", inputs.config)]
    body = b""
    for name, data in parts:
        body += f'--XyZ\r\nContent-Disposition: form-data; name="{name}"; '.encode()
        body += f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        body += data + b"\r\n"
    body += b"--XyZ--\r\n"
    store = open_store(tmp_path / "audit.db")
    apps = build_apps(
        ServerSettings(state_dir=tmp_path),
        GateState(engine=Engine.load(None, GOOD / "trust"), store=store),
        TokenStore.parse(f"operator:{hash_token(token)}:ci\n"),
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "multipart/form-data; boundary=XyZ",
        "X-Request-ID": "redact-1",
    }

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=apps.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            return await c.post(MIGRATION_PATH, headers=headers, content=body)

    access = logging.getLogger("migration_gate.access")
    level = access.level
    access.setLevel(logging.INFO)
    try:
        capsys.readouterr()
        resp = asyncio.run(main())
        out = capsys.readouterr()
        [record] = store.query(AuditQuery(request_id="redact-1")).records
    finally:
        access.setLevel(level)
        apps.gate.close()
        store.close()
    assert resp.json()["decision"] == "BLOCK"
    stored = record.model_dump_json()
    assert "redact-1" in out.out  # the stdout audit line was captured
    for where, text in (("response", resp.text), ("stdout", out.out), ("stderr", out.err),
                        ("record", stored)):  # fmt: skip
        for s in SECRETS:
            assert s not in text, (where, s)
    assert REDACTED in resp.text and REDACTED in stored


def test_log_lines_are_redacted() -> None:
    from webhook.server.logs import JsonFormatter

    try:
        raise ValueError(f"bad value {AWS}")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token=%s", (LIT,), exc_info)
    line = JsonFormatter().format(record)
    assert AWS not in line and LIT not in line
    assert json.loads(line)["msg"].startswith("token=<redacted sha256:")


def test_door_refusals_are_redacted_and_capped() -> None:
    """A 4xx detail may quote the request (`apiVersion must be ... (found '...')`)."""
    from webhook.server.admission import ReviewError
    from webhook.server.http import HTTPError

    err = HTTPError(400, "bad", f"kind must be X (found {AWS + 'z' * 9000!r})")
    assert AWS not in err.detail and len(err.detail) < 200
    assert AWS not in ReviewError(f"apiVersion must be v1 (found {AWS!r})").detail
