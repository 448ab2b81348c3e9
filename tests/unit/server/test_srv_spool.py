"""The upload spool: its own directory, a byte budget (507, not an evicted pod or a full audit
disk), disk errors named instead of a 500, stale spools of dead processes swept at start."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.server.support import asgi_post
from webhook.server.direct import DirectRoute
from webhook.server.http import HTTPError
from webhook.server.run import prepare
from webhook.server.settings import ServerSettings
from webhook.server.uploads import (
    MultipartReader,
    SpoolBudget,
    Upload,
    receive_multipart,
    sweep_stale_spools,
)

B = "bnd"
SNAPSHOT = "snapshot.tar.gz"


def body(snapshot: bytes) -> bytes:
    disp = f'form-data; name="{SNAPSHOT}"; filename="s.tgz"'
    return (
        f"--{B}\r\nContent-Disposition: {disp}\r\n\r\n".encode()
        + snapshot
        + f"\r\n--{B}--\r\n".encode()
    )


def chunks(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def upload(root: Path, data: bytes, budget: SpoolBudget | None) -> Upload:
    scope, receive = asgi_post(chunks(body(data)), f"multipart/form-data; boundary={B}")
    return asyncio.run(
        receive_multipart(
            scope,
            receive,
            tmp_root=root,
            allowed=frozenset({SNAPSHOT}),
            to_disk=frozenset({SNAPSHOT}),
            wal_field=None,
            max_total=1 << 30,
            max_small_part=1024,
            budget=budget,
        )
    )


def test_an_upload_over_the_spool_budget_is_507_and_leaves_nothing(tmp_path: Path) -> None:
    budget = SpoolBudget(3 * 1024 * 1024)
    with pytest.raises(HTTPError) as err:
        upload(tmp_path, b"x" * (5 * 1024 * 1024), budget)
    assert err.value.status == 507 and err.value.error == "insufficient-storage"
    assert budget.used == 0  # given back when the spool was removed
    assert list(tmp_path.iterdir()) == []


def test_uploads_in_flight_share_the_budget_and_give_it_back(tmp_path: Path) -> None:
    budget = SpoolBudget(3 * 1024 * 1024)
    first = upload(tmp_path, b"a" * (2 * 1024 * 1024), budget)
    assert budget.used == 2 * 1024 * 1024
    with pytest.raises(HTTPError) as err:  # the first still holds its bytes
        upload(tmp_path, b"b" * (2 * 1024 * 1024), budget)
    assert err.value.status == 507
    asyncio.run(first.close())
    assert budget.used == 0
    second = upload(tmp_path, b"c" * (2 * 1024 * 1024), budget)
    asyncio.run(second.close())
    assert budget.used == 0


@pytest.mark.parametrize(("code", "status"), [(errno.ENOSPC, 507), (errno.EIO, 503)])
def test_a_spool_write_error_is_named_not_a_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, status: int
) -> None:
    def full(self: MultipartReader, parts: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(MultipartReader, "_flush_all", full)
    with pytest.raises(HTTPError) as err:
        upload(tmp_path, b"x" * (2 * 1024 * 1024), None)
    assert err.value.status == status
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_spool_directory_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(HTTPError) as err:
        upload(blocker, b"x" * 10, None)
    assert err.value.status == 503 and "spool" in err.value.detail


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _spool(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "part-0001").write_bytes(b"x" * 100)
    return path


def test_sweep_removes_dead_own_and_unknown_owners_keeps_live_ones(tmp_path: Path) -> None:
    dead = _spool(tmp_path, f"upload-{_dead_pid()}-abcdef-00000001")
    own = _spool(tmp_path, f"upload-{os.getpid()}-abcdef-00000001")  # an earlier pid 1
    legacy = _spool(tmp_path, "upload-0123456789abcdef-00000001")
    live = _spool(tmp_path, f"upload-{os.getppid()}-abcdef-00000001")
    other = _spool(tmp_path, "not-a-spool")
    assert sweep_stale_spools(tmp_path) == 3
    assert not dead.exists() and not own.exists() and not legacy.exists()
    assert live.exists() and other.exists()
    assert sweep_stale_spools(tmp_path / "missing") == 0


def test_serve_sweeps_the_spool_dir_at_start(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    stale = _spool(spool, f"upload-{_dead_pid()}-abcdef-00000002")
    settings = ServerSettings(state_dir=tmp_path / "state", spool_dir=spool)
    prepare(settings)
    assert not stale.exists()


def test_the_spool_dir_is_its_own_setting(tmp_path: Path) -> None:
    from argparse import Namespace

    from webhook.server.app import build_apps
    from webhook.server.gate import GateState

    default = ServerSettings(state_dir=tmp_path / "state")
    assert default.tmp_dir == tmp_path / "state" / "tmp"
    env = {
        "MIGRATION_GATE_SPOOL_DIR": str(tmp_path / "spool"),
        "MIGRATION_GATE_SPOOL_MAX_BYTES": "2GiB",
    }
    settings = ServerSettings.from_args(Namespace(state_dir=str(tmp_path / "state")), env)
    assert settings.tmp_dir == tmp_path / "spool"
    assert settings.spool_max_bytes == 2 * 1024**3
    apps = build_apps(settings, GateState(), None)
    assert isinstance(apps.api, DirectRoute)
    door = apps.api.handle.__self__  # type: ignore[attr-defined]  # the ApiDoor it serves
    assert door.tmp_dir == tmp_path / "spool"
    assert door.spool_budget.max_bytes == 2 * 1024**3
    apps.gate.close()
