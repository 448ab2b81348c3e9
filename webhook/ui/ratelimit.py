"""Login attempts per client address: a few failures, then a wait (token guessing is slow)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_FAILURES = 10
WINDOW = 300.0
MAX_CLIENTS = 10_000


class LoginLimiter:
    """At most `max_failures` failed logins per client in any `window` seconds."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str) -> deque[float]:
        now = self.clock()
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int:
        """0 if the client may try now, else seconds to wait."""
        times = self._recent(client)
        if len(times) < self.max_failures:
            return 0
        return max(1, int(self.window - (self.clock() - times[0])) + 1)

    def failed(self, client: str) -> None:
        times = self._recent(client)
        times.append(self.clock())
        self._failures[client] = times
        self._failures.move_to_end(client)
        while len(self._failures) > MAX_CLIENTS:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
