"""A long value is scanned in bounded regex calls, and finds what one pass finds.

`re` holds the GIL for a whole call: one `finditer` step over a 1 MiB value with no match
stalled every listener (the event loop, `/livez`) for ~300 ms. The scan now works in windows of
SCAN_WINDOW (+ SCAN_OVERLAP) characters, so no call is longer than that, and the hits are those
of a single pass: a secret straddling a window edge is still found, exactly once.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from webhook.contracts import secret_shapes
from webhook.contracts.secret_shapes import SCAN_OVERLAP, SCAN_WINDOW, find_secrets

AWS = "AKIA" + "Q" * 15 + "Z"
GHP = "ghp_" + "a1B2" * 9


def _single_pass(text: str) -> list[tuple[int, int, str]]:
    old = (secret_shapes.SCAN_WINDOW, secret_shapes.SCAN_OVERLAP)
    try:
        secret_shapes.SCAN_WINDOW = 10**12  # type: ignore[misc]
        return [(h.start, h.end, h.what) for h in find_secrets(text)]
    finally:
        secret_shapes.SCAN_WINDOW, secret_shapes.SCAN_OVERLAP = old  # type: ignore[misc]


@pytest.mark.parametrize("edge", [-40, -20, -3, -1, 0, 1, 7, 39])
@pytest.mark.parametrize("secret", [AWS, GHP, "password=hunter2hunter2", "postgres://u:pw1234@h"])
def test_a_secret_across_a_window_edge_is_found_once(edge: int, secret: str) -> None:
    at = SCAN_WINDOW + edge
    text = "x " * (at // 2) + " " * (at % 2) + secret + " " + "y " * 40_000
    windowed = [(h.start, h.end, h.what) for h in find_secrets(text)]
    assert windowed == _single_pass(text)
    assert len(windowed) == 1
    assert text[windowed[0][0] : windowed[0][1]] in secret


def test_many_secrets_match_a_single_pass() -> None:
    parts = [f"k{i}={AWS if i % 3 else GHP} pad{'z' * (i * 37 % 500)} " for i in range(3000)]
    text = "".join(parts)
    assert len(text) > 4 * SCAN_WINDOW
    assert [(h.start, h.end) for h in find_secrets(text)] == [
        (s, e) for s, e, _ in _single_pass(text)
    ]


class _Recording:
    """A pattern that records the span each regex call may scan."""

    def __init__(self, pattern: re.Pattern[str], spans: list[int]) -> None:
        self.pattern, self.spans = pattern, spans

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Any:
        end = len(text) if endpos is None else endpos
        self.spans.append(end - pos)
        return self.pattern.finditer(text, pos, end)


def test_no_regex_call_scans_more_than_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    spans: list[int] = []
    for name in ("_TOKENS", "_URL_PASSWORD", "_PAIR"):
        monkeypatch.setattr(secret_shapes, name, _Recording(getattr(secret_shapes, name), spans))
    text = "a-a=a://a:" * 100_000  # 1 MB, the document limit
    list(find_secrets(text))
    assert spans and max(spans) <= SCAN_WINDOW + SCAN_OVERLAP
