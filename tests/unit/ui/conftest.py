"""An in-process gate (real engine, real SQLite audit store, real token store) and its UI.

`UiGate.client()` is a Starlette TestClient on the API app (the UI's listener); `login()`
signs in through the real form, so every test starts from what a browser would do.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from webhook.audit import open_store
from webhook.pipelines import Engine
from webhook.server.app import GateApps, build_apps
from webhook.server.auth import TokenStore
from webhook.server.gate import GateState
from webhook.server.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
TOKENS = {"operator": "op-" + "a" * 40, "viewer": "view-" + "b" * 40}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_store(tokens: dict[str, str]) -> TokenStore:
    lines = [
        f"{role}:{hashlib.sha256(tok.encode()).hexdigest()}:{role}-user"
        for role, tok in tokens.items()
    ]
    return TokenStore.parse("\n".join(lines))


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def migration_files(folder: Path, *, signed: bool = True) -> list[tuple[str, tuple[str, bytes]]]:
    names = ["migration_manifest.json", "app-config.yaml"]
    if signed and (folder / "migration_manifest.dsse.json").exists():
        names.append("migration_manifest.dsse.json")
    return [(n, (n, (folder / n).read_bytes())) for n in names]


def replication_files(folder: Path) -> list[tuple[str, tuple[str, bytes]]]:
    files = [
        (n, (n, (folder / n).read_bytes()))
        for n in ("replication_manifest.yaml", "snapshot.tar.gz", "snapshot.dsse.json")
        if (folder / n).exists()
    ]
    wal = folder / "wal_files"
    if wal.is_dir():
        files += [("wal_files", (p.name, p.read_bytes())) for p in sorted(wal.iterdir())]
    return files


class Client:
    """A synchronous face on httpx.AsyncClient over ASGI, its loop in one thread (the gate's
    worker pools answer on that loop); keeps cookies like a browser."""

    def __init__(self, app: Any, base_url: str = "http://gate.test") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        transport = httpx.ASGITransport(app=app)
        self.http = httpx.AsyncClient(transport=transport, base_url=base_url)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self._run(self.http.get(url, **kw))  # type: ignore[no-any-return]

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self._run(self.http.post(url, **kw))  # type: ignore[no-any-return]

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self._run(self.http.request(method, url, **kw))  # type: ignore[no-any-return]

    @property
    def cookies(self) -> httpx.Cookies:
        return self.http.cookies

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self.http.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class UiGate:
    apps: GateApps
    state_dir: Path
    tokens: dict[str, str]

    def client(self, base_url: str = "http://gate.test") -> Client:
        return Client(self.apps.api, base_url)

    def login(self, client: Client, role: str = "operator") -> None:
        form = client.get("/ui/login")
        assert form.status_code == 200
        r = client.post(
            "/ui/login", data={"token": self.tokens[role], "csrf_token": csrf_of(form.text)}
        )
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/ui/"

    def csrf(self, client: Client, path: str = "/ui/migration") -> str:
        return csrf_of(client.get(path).text)

    def spools(self) -> list[Path]:
        return list((self.state_dir / "tmp").glob("upload-*"))


def make_gate(
    tmp: Path,
    environ: dict[str, str] | None = None,
    *,
    tokens: dict[str, str] | None = None,
    policy: Path | None = None,
    **settings: object,
) -> UiGate:
    """A gate on `tmp` (its state dir: audit.db, ui-session.key, tmp/ spool)."""
    state = GateState()
    state.engine = Engine.load(policy, EXAMPLES / "t1_good" / "trust")
    state.store = open_store(tmp / "audit.db")
    cfg = ServerSettings(state_dir=tmp, decision_cache_ttl=0, **settings)  # type: ignore[arg-type]
    tokens = dict(TOKENS if tokens is None else tokens)
    apps = build_apps(cfg, state, token_store(tokens), environ=environ or {})
    return UiGate(apps, tmp, tokens)


def close_gate(gate: UiGate) -> None:
    gate.apps.gate.close()
    if gate.apps.gate.state.store is not None:
        gate.apps.gate.state.store.close()


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Any]:
    """Make as many gates as a test needs; all closed afterwards."""
    made: list[UiGate] = []

    def factory(sub: str = "g", **kw: Any) -> UiGate:
        path = tmp_path / sub
        path.mkdir(exist_ok=True)
        gate = make_gate(path, **kw)
        made.append(gate)
        return gate

    yield factory
    for gate in made:
        close_gate(gate)


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[UiGate]:
    gate = make_gate(tmp_path)
    yield gate
    close_gate(gate)
