"""Bounded retries for eventually-consistent apiserver behaviour (webhook config propagation).

The apiserver picks up a new ValidatingWebhookConfiguration through an informer, a moment after
the create returns; tests wait for the effect with a bounded loop instead of sleeping blindly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    attempt: Callable[[], T],
    done: Callable[[T], bool],
    what: str,
    timeout: float = 60.0,
    interval: float = 0.5,
) -> T:
    """Call `attempt` until `done(result)`; raise AssertionError with the last result otherwise."""
    deadline = time.monotonic() + timeout
    result = attempt()
    while not done(result):
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s; last:\n{result}")
        time.sleep(interval)
        result = attempt()
    return result
