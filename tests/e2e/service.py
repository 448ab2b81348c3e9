"""The lifecycle every e2e component shares: `with` starts it and always stops it.

`Service` is the context manager (start on enter, stop on exit, whatever the exit);
`ThreadedServer` is a loopback HTTP server served from one daemon thread, shut down and joined
on stop. One place, so a fix to how a component is torn down reaches every component.
"""

from __future__ import annotations

import threading
from socketserver import BaseServer
from types import TracebackType
from typing import Self


class Service:
    """Start on `__enter__`, stop on `__exit__` (also when the body raised)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ThreadedServer(Service):
    """A server whose `serve_forever` runs in a daemon thread named `name` until `stop`."""

    def __init__(self, server: BaseServer, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
