"""The audit page's chain status line, from a bounded verify that never holds up a page.

The store's `verify_head(last=WINDOW)` checks the newest `WINDOW` records' seqs, links and
hashes: bounded work however long the chain is (the full walk is `audit verify`). It runs on
the API's I/O threads, at most one at a time, and its result is reused for `MAX_AGE` seconds;
a page waits for it at most `WAIT` seconds and otherwise says the check is running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from webhook.audit import VerifyResult

#: records the status line checks (the newest ones)
WINDOW = 1000
MAX_AGE = 10.0
WAIT = 2.0


class ChainStatus:
    def __init__(self, run: Callable[[], Awaitable[VerifyResult]]) -> None:
        self._run = run
        self._task: asyncio.Task[VerifyResult] | None = None
        self._at = 0.0

    async def line(self) -> tuple[bool | None, str]:
        """(ok, text): True intact, False broken or unreadable, None not known yet."""
        now = time.monotonic()
        task = self._task
        if task is None or (task.done() and now - self._at > MAX_AGE):
            task = self._task = asyncio.ensure_future(self._run())
            self._at = now
        try:
            result = await asyncio.wait_for(asyncio.shield(task), WAIT)
        except TimeoutError:
            return None, "chain check running: reload in a moment"
        except Exception as exc:
            self._task = None
            return False, f"chain could not be checked: {exc}"
        return describe(result)


def describe(result: VerifyResult) -> tuple[bool, str]:
    if not result.readable:
        return False, f"audit store unreadable: {result.reason}"
    if result.ok:
        if result.head_seq is None:
            return True, "chain intact: no records yet"
        if result.checked >= result.head_seq:
            return True, f"chain intact up to seq {result.head_seq} (all {result.checked} checked)"
        first = result.head_seq - result.checked + 1
        return True, (
            f"chain intact up to seq {result.head_seq} (the last {result.checked} records "
            f"checked, from seq {first}; `audit verify` checks them all)"
        )
    return False, f"chain BROKEN at seq {result.first_bad_seq}: {result.reason}"
