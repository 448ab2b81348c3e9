"""Token file parsing, hashing, roles; first-start token generation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from webhook.errors import ConfigError
from webhook.server.auth import TokenStore, bearer_token, ensure_token_file, hash_token


def test_authenticate_by_hash_and_roles() -> None:
    text = (
        f"# comment\n\nviewer:{hash_token('v-token')}:dash\noperator:{hash_token('o-token')}:ci\n"
    )
    store = TokenStore.parse(text)
    viewer = store.authenticate("v-token")
    operator = store.authenticate("o-token")
    assert viewer is not None and viewer.name == "dash" and viewer.role == "viewer"
    assert operator is not None and operator.role == "operator"
    assert viewer.allows("viewer") and not viewer.allows("operator")
    assert operator.allows("viewer") and operator.allows("operator")
    assert store.authenticate("nope") is None
    assert store.authenticate("") is None
    assert store.authenticate("x" * 5000) is None


@pytest.mark.parametrize(
    "line",
    [
        "admin:" + "0" * 64 + ":x",
        "viewer:abc:x",
        "viewer:" + "0" * 64,
        "viewer:" + "A" * 64 + ":x",
        "viewer:" + "0" * 64 + ":bad name",
    ],
)
def test_bad_lines_are_config_errors_naming_the_line(line: str) -> None:
    with pytest.raises(ConfigError) as err:
        TokenStore.parse("\n" + line, source="tokens")
    assert err.value.file == "tokens" and err.value.field == "line 2"


def test_first_start_token(tmp_path: Path) -> None:
    tokens, clear = tmp_path / "operator-token", tmp_path / "operator-token.txt"
    token = ensure_token_file(tokens, clear)
    assert token is not None and token.startswith("mg_")
    assert token not in tokens.read_text()  # only the hash is stored
    assert clear.read_text().strip() == token
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert stat.S_IMODE(clear.stat().st_mode) == 0o600
    principal = TokenStore.load(tokens).authenticate(token)
    assert principal is not None and principal.role == "operator"
    assert ensure_token_file(tokens, clear) is None  # idempotent


def test_bearer_header() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
