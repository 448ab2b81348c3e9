"""What a real `serve` prints: where its state and trust are, the bundle digest, the token files
(the clear token on the first start only), and uvicorn's start and stop lines once each."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.integration.conftest import EXAMPLES, start_gate
from webhook.server.auth import CLEAR_FILE, HASH_FILE, LEGACY_HASH_FILE


def banner(stderr: Path) -> list[str]:
    text = stderr.read_text()
    return text[text.index("migration-gate is serving") :].splitlines()


def uvicorn_lines(stderr: Path) -> list[str]:
    return [line for line in stderr.read_text().splitlines() if '"uvicorn.error"' in line]


def test_every_start_says_where_its_state_is_and_the_first_start_gives_the_token(
    tmp_path: Path,
) -> None:
    trust = EXAMPLES / "t1_good" / "trust"
    first = start_gate(tmp_path / "a", "--trust-dir", str(trust))
    assert first.stop() == 0
    lines = banner(first.stderr)
    state = first.state.resolve()
    digest = (
        "sha256:"
        + hashlib.sha256(
            (Path(__file__).resolve().parents[2] / "webhook/policies/default.yaml").read_bytes()
        ).hexdigest()
    )
    assert f"  state dir : {state}" in lines
    assert f"  policy    : {digest} (built-in default)" in lines
    assert f"  trust     : 1 key(s) from {trust}" in lines
    ui = next(line for line in lines if line.startswith("  UI        : "))
    assert ui.split()[2] == first.api + "/ui/"  # where the README's quick start sends a user
    tokens_line = next(line for line in lines if line.startswith("  tokens    : "))
    assert tokens_line.split()[2].endswith(HASH_FILE)
    token = (first.state / CLEAR_FILE).read_text().strip()
    assert token in first.stderr.read_text()  # the first start prints it, once
    assert token not in (first.state / HASH_FILE).read_text()

    # the same state dir again: everything but the clear token, and where to find it
    (tmp_path / "a" / "gate.stderr").rename(tmp_path / "a" / "first.stderr")
    again = start_gate(tmp_path / "a", "--trust-dir", str(trust))
    assert again.stop() == 0
    text = again.stderr.read_text()
    assert token not in text
    assert f"  operator token: in {again.state / CLEAR_FILE} (written on the first start)" in (
        banner(again.stderr)
    )
    assert f"  policy    : {digest} (built-in default)" in banner(again.stderr)


def test_uvicorn_start_and_stop_lines_appear_once(tmp_path: Path) -> None:
    gate = start_gate(tmp_path, tokens={"operator": "op-" + "c" * 40})
    assert gate.stop() == 0
    lines = uvicorn_lines(gate.stderr)
    for what in ("Started server process", "Shutting down", "Finished server process"):
        assert sum(what in line for line in lines) == 1, (what, lines)
    # one "running on" line per listener: they name different addresses
    assert sum("Uvicorn running on" in line for line in lines) == 3


def test_a_pre_rename_token_file_is_still_read_with_a_deprecation(tmp_path: Path) -> None:
    gate = start_gate(tmp_path, tokens={"operator": "op-" + "d" * 40})  # written as the old name
    try:
        assert (gate.state / LEGACY_HASH_FILE).is_file()
        with gate.client() as c:
            r = c.get(f"{gate.api}/api/v1/alerts", headers=gate.auth())
        assert r.status_code == 200, r.text
    finally:
        gate.stop()
    deprecated = [line for line in gate.log_lines() if line.get("event") == "deprecated"]
    assert len(deprecated) == 1 and HASH_FILE in deprecated[0]["msg"]
    assert not (gate.state / HASH_FILE).exists()  # nothing renamed behind the operator's back
