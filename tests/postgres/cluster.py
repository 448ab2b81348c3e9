"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl as an unprivileged user.

Debian's server binaries (tools/postgres/install.sh); a data directory under /tmp owned by the
unprivileged user (as root the cluster runs as `nobody`: PostgreSQL refuses to run as root);
TCP on 127.0.0.1 with a free port, SCRAM passwords, a Unix socket inside the data directory.
Roles: `mg_admin` (superuser: owns the schema, can drop triggers to tamper) and `mg_writer`
(what the gate runs as: INSERT and SELECT only).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ADMIN, ADMIN_PW = "mg_admin", "adm1n-pw-4-tests"
WRITER, WRITER_PW = "mg_writer", "wr1ter-pw-4-tests-XYZZY"
DB = "audit"
UNPRIVILEGED = "nobody"


def find_bin() -> Path | None:
    cached = Path.home() / ".cache/migration-gate/postgres-bin"
    if cached.is_file():
        path = Path(cached.read_text().strip())
        if (path / "initdb").is_file():
            return path
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bin: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mg-pg-", dir="/tmp")))
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def _as_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", UNPRIVILEGED, "--", *argv]
        return argv

    def _run(self, argv: list[str]) -> None:
        subprocess.run(
            self._as_user(argv), check=True, capture_output=True, timeout=120, cwd=self.root
        )

    def init(self) -> None:
        os.chmod(self.root, 0o755)
        pwfile = self.root / "pw"
        pwfile.write_text(ADMIN_PW + "\n")
        if os.geteuid() == 0:
            shutil.chown(self.root, UNPRIVILEGED)
            shutil.chown(pwfile, UNPRIVILEGED)
        self._run(
            [
                str(self.bin / "initdb"), "-D", str(self.data), "-U", ADMIN,
                "--pwfile", str(pwfile), "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C",
                "--no-sync",
            ]
        )  # fmt: skip
        pwfile.unlink()
        conf = self.data / "postgresql.conf"
        with conf.open("a") as handle:
            handle.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.data}'\nmax_connections = 100\n"
                "shared_buffers = 32MB\nfsync = on\nsynchronous_commit = on\n"
            )
        self.start()
        with self.admin(dbname="postgres") as conn:
            conn.execute(f"CREATE DATABASE {DB}")
            conn.execute(f"CREATE ROLE {WRITER} LOGIN PASSWORD '{WRITER_PW}'")

    def start(self) -> None:
        self._run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
             "start"]
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, user: str = WRITER, dbname: str = DB) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, dbname: str = DB) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=ADMIN, password=ADMIN_PW, dbname=dbname,
            autocommit=True,
        )  # fmt: skip

    def new_database(self, name: str) -> str:
        """A fresh database for one test, the schema installed, the writer granted."""
        with self.admin(dbname="postgres") as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(dbname=name)
