"""Hash updates in submission order, on a helper thread when a second CPU is usable.

Also the two process-level helpers that make the threaded mode pay: `usable_cpus` (pinned to one
CPU a thread only adds switches) and `prime_heap` (see its docstring).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Final

from webhook.integrity.archive.model import MiB

#: hand hashing work to the worker thread at least this often: small hand-offs let the hasher
#: start early and keep the buffers in flight few and cache-warm (4 MiB measured 4-6% slower)
BATCH_BYTES: Final = 1 * MiB
#: batches waiting for the hash thread; with `BATCH_BYTES` bounds the inflated data in flight
QUEUE_DEPTH: Final = 4
#: size of the block freed once to lift glibc's mmap threshold (see `prime_heap`)
_HEAP_PRIME: Final = 16 * MiB

_Job = tuple[Callable[[Any], object], Any]


class HashWorker:
    """Runs hash updates in submission order, on a helper thread when a second CPU is usable.

    hashlib and zlib release the GIL on large buffers, so hashing members and the whole file on
    a second core overlaps with inflating. Updates are batched (one hand-off per raw chunk or per
    `BATCH_BYTES`) because each thread hand-off costs a GIL round trip; the queue is short, so at
    most a few MiB of inflated data wait for hashing. Pinned to one CPU, a thread would only add
    switches, so updates then run inline.
    """

    def __init__(self, *, threaded: bool) -> None:
        self._q: queue.Queue[list[_Job] | None] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._batch: list[_Job] = []
        self._batch_bytes = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="targz-hash", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._q.get()
            if batch is None:
                return
            if self._error is None:
                try:
                    for fn, arg in batch:
                        fn(arg)
                except BaseException as exc:  # re-raised in the caller by close()
                    self._error = exc

    def add(self, fn: Callable[[Any], object], arg: Any, size: int = 0) -> None:
        """Run `fn(arg)` after everything added before it (now, when not threaded)."""
        if self._thread is None:
            fn(arg)
            return
        self._batch.append((fn, arg))
        self._batch_bytes += size
        if self._batch_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._batch and self._thread is not None:
            self._q.put(self._batch)
            self._batch = []
            self._batch_bytes = 0

    def close(self) -> None:
        """Run everything added so far, stop the thread; re-raise a worker failure."""
        if self._thread is not None:
            self.flush()
            self._q.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error


_heap_primed = False


def prime_heap() -> None:
    """Free one large calloc'd block once, so glibc raises its mmap/trim thresholds.

    Inflating allocates a fresh output buffer per call and the hash thread frees it later; with
    glibc's default 128 KiB mmap threshold the heap top is trimmed and faulted back in over and
    over (17k-23k page faults for 512 MiB, about 10% of the wall time, all on the inflating
    thread). Freeing an mmapped block makes glibc raise the mmap threshold to its size and the
    trim threshold to twice that, as it does on its own after any such free; later runs then
    reuse the heap. `bytes(n)` uses calloc, so no page of the block is touched.
    """
    global _heap_primed  # noqa: PLW0603 - once per process
    if not _heap_primed:
        _heap_primed = True
        block = bytes(_HEAP_PRIME)
        del block


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1
