"""Child processes for the e2e harness: free loopback ports, logs, bounded waits, clean stop.

Every wait here is bounded and every failure names the process and shows the tail of its log,
because a control plane that fails to come up in CI must say why in the test output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class HarnessError(RuntimeError):
    """The e2e harness could not bring up (or talk to) a component; the message says which."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it; tiny reuse race accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent environment without proxy settings: every hop in these tests is loopback."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    if extra:
        env.update(extra)
    return env


def tail(path: Path, lines: int = 40) -> str:
    """Last `lines` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<log {path} unreadable: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


class Process:
    """One long-running child with its output in a log file; stop() is idempotent."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self._env = dict(env) if env is not None else loopback_env()
        self._cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_fh: IO[bytes] | None = None

    def start(self) -> None:
        if self.running:
            raise HarnessError(f"{self.name} is already running")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = self.log.open("ab")
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_fh,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise HarnessError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check_alive(self) -> None:
        """Raise with the log tail if the process has exited (used inside wait loops)."""
        if self._proc is not None and self._proc.poll() is not None:
            raise HarnessError(
                f"{self.name} exited with code {self._proc.returncode}; "
                f"last lines of {self.log}:\n{tail(self.log)}"
            )

    def wait_until(
        self, probe: Callable[[], bool], what: str, timeout: float, interval: float = 0.25
    ) -> None:
        """Poll `probe` until it returns True; fail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if probe():
                    return
            except OSError as exc:  # connection refused, TLS not up yet, ...
                last_error = f" (last error: {exc})"
            time.sleep(interval)
        raise HarnessError(
            f"{self.name}: {what} not reached within {timeout:.0f} s{last_error}; "
            f"last lines of {self.log}:\n{tail(self.log)}"
        )

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, wait, then SIGKILL the whole process group; always closes the log."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        elif proc is not None:
            proc.wait()
        self._proc = None
        self._close_log()

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def _close_log(self) -> None:
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
