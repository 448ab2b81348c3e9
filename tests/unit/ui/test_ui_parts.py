"""The small parts on their own: charts, the login limiter, timestamps, the origin check."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request

from webhook.ui.charts import Bucket, timeline, top_bars
from webhook.ui.dashboard import buckets, subject_label
from webhook.ui.ratelimit import LoginLimiter
from webhook.ui.render import short_ts
from webhook.ui.security import same_origin


def test_timeline_stacks_each_series_and_escapes_labels() -> None:
    svg = str(timeline([Bucket("<b>", allow=3, block=1), Bucket("01:00")], title='a "t"'))
    assert svg.count("<rect") == 2  # the empty bucket draws nothing
    assert "&lt;b&gt;: 3 ALLOW" in svg and "&lt;b&gt;: 1 BLOCK" in svg and "<b>" not in svg
    assert 'aria-label="a &#34;t&#34;"' in svg and 'role="img"' in svg
    assert "style=" not in svg  # colours come from classes (the CSP allows no inline style)


def test_top_bars_scale_to_the_largest() -> None:
    svg = str(top_bars([("no-root", 4), ("x" * 50, 2)], title="t"))
    widths = [float(w) for w in re.findall(r'<rect[^>]* width="([0-9.]+)"', svg)]
    assert widths[0] == 2 * widths[1]
    assert "x" * 35 + "\u2026" in svg and "x" * 50 + ": 2" in svg  # cut label, full title


def test_buckets_count_the_last_24_hours_only() -> None:
    class R:
        def __init__(self, ts: str, decision: str, dry_run: bool = False) -> None:
            self.ts, self.decision, self.dry_run = ts, decision, dry_run

    now = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    rows = [R("2026-12-02T15:10:00Z", "BLOCK"), R("2026-12-02T15:20:00Z", "ALLOW", True),
            R("2026-12-01T15:59:00Z", "BLOCK"), R("2026-12-01T16:00:00Z", "ALLOW")]  # fmt: skip
    slots = buckets(rows, now)  # type: ignore[arg-type]
    assert len(slots) == 24 and slots[0].label == "16:00" and slots[-1].label == "15:00"
    assert (slots[0].allow, slots[-1].block, slots[-1].dryrun) == (1, 1, 1)
    assert sum(s.total for s in slots) == 3
    assert subject_label({"source_db": "a", "target_db": "b"}) == "a \u2192 b"


def test_login_limiter_waits_then_forgets() -> None:
    now = [0.0]
    limiter = LoginLimiter(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("a") == 0
        limiter.failed("a")
    assert limiter.retry_after("a") == 61 and limiter.retry_after("b") == 0
    now[0] = 59.5
    assert limiter.retry_after("a") == 1
    now[0] = 60.0
    assert limiter.retry_after("a") == 0  # the oldest failure left the window
    limiter.failed("a")
    limiter.succeeded("a")
    assert limiter.retry_after("a") == 0


def test_short_ts() -> None:
    assert short_ts("2026-12-02T15:15:31.757224Z") == "2026-12-02 15:15:31Z"
    assert short_ts(None) == "" and short_ts("odd") == "odd"


def _request(headers: dict[str, str], scheme: str = "http") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "scheme": scheme, "path": "/ui/login",
                    "headers": [(b"host", b"gate:8080"), *raw], "query_string": b""})  # fmt: skip


def test_same_origin() -> None:
    assert same_origin(_request({}))  # no header at all (curl): CSRF token still needed
    assert same_origin(_request({"Origin": "http://gate:8080", "Sec-Fetch-Site": "same-origin"}))
    assert not same_origin(_request({"Origin": "http://evil:8080"}))
    assert not same_origin(_request({"Origin": "https://gate:8080"}))  # scheme differs
    assert not same_origin(_request({"Sec-Fetch-Site": "cross-site"}))
    assert not same_origin(_request({"Sec-Fetch-Site": "same-site"}))
    assert not same_origin(_request({"Origin": "null"}))
    assert same_origin(_request({"Origin": "null", "Sec-Fetch-Site": "same-origin"}))
