"""A git repository served over smart HTTP on loopback, written commit by commit from Python.

Why dulwich and not `git http-backend`: the commits are built from file contents in-process (no
work tree, no shell, no git config of the machine), and the same library serves them with the
smart protocol Flux's source-controller (go-git) speaks. Read-only: only `git-upload-pack` is
served, so nothing can push into the test repository.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from dulwich.objects import Blob, Commit, Tree
from dulwich.protocol import CAPABILITY_SIDE_BAND_64K
from dulwich.refs import Ref
from dulwich.repo import Repo
from dulwich.server import BackendRepo, DictBackend, UploadPackHandler
from dulwich.web import HTTPGitApplication, make_server

from .procs import free_port
from .service import ThreadedServer

BRANCH = Ref(b"refs/heads/main")
AUTHOR = b"migration-gate e2e <e2e@example.invalid>"
MAX_FILE = 1024 * 1024


class _UploadPack(UploadPackHandler):
    """upload-pack that serves clients without thin-pack support (go-git, so Flux).

    dulwich insists that every client offers thin-pack and ofs-delta, but the packs it writes
    here hold whole objects (no deltas at all), so neither capability changes a byte sent.
    """

    @classmethod
    def required_capabilities(cls) -> tuple[bytes, ...]:
        return (CAPABILITY_SIDE_BAND_64K,)


class _QuietHandler(WSGIRequestHandler):
    """No per-request lines on stderr (pytest would show them as noise)."""

    def log_message(self, format: str, *args: Any) -> None:
        return


class GitServer(ThreadedServer):
    """One repository at http://127.0.0.1:PORT/repo.git, branch main; `commit()` moves main."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.path = workdir / "repo.git"
        self.repo = Repo.init_bare(str(self.path), mkdir=True)
        self.repo.refs.set_symbolic_ref(Ref(b"HEAD"), BRANCH)
        self.port = free_port()
        app = HTTPGitApplication(DictBackend({"/repo.git": cast(BackendRepo, self.repo)}))
        # `handlers=` only adds to dulwich's defaults (which include receive-pack): replace them.
        app.handlers = {b"git-upload-pack": _UploadPack}
        server: WSGIServer = make_server("127.0.0.1", self.port, app, handler_class=_QuietHandler)
        super().__init__(server, "e2e-git-http")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/repo.git"

    def stop(self) -> None:
        super().stop()
        self.repo.close()

    def commit(self, files: Mapping[str, bytes], message: str) -> str:
        """A commit on main whose tree is exactly `files` (flat names); returns its sha1 hex."""
        store = self.repo.object_store
        tree = Tree()
        for name, data in sorted(files.items()):
            if "/" in name or not name or len(data) > MAX_FILE:
                raise ValueError(f"test repo file {name!r}: flat names under {MAX_FILE} bytes")
            blob = Blob.from_string(data)
            store.add_object(blob)
            tree.add(name.encode(), 0o100644, blob.id)
        store.add_object(tree)
        commit = Commit()
        commit.tree = tree.id
        commit.parents = [self.repo.refs[BRANCH]] if BRANCH in self.repo.refs else []
        commit.author = commit.committer = AUTHOR
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = message.encode() + b"\n"
        store.add_object(commit)
        self.repo.refs[BRANCH] = commit.id
        return commit.id.decode("ascii")
