"""Server-rendered SVG charts (no chart library, no script): decisions over time, top lists.

Colours come from the stylesheet (class names), so the CSP needs no inline style; every bar
has a <title> and the chart a text alternative, and the page shows the same numbers as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 220
PAD_LEFT = 40
PAD_BOTTOM = 28
SERIES = (("allow", "ALLOW"), ("block", "BLOCK"), ("dryrun", "dry run"))


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time slot's counts."""

    label: str
    allow: int = 0
    block: int = 0
    dryrun: int = 0

    @property
    def total(self) -> int:
        return self.allow + self.block + self.dryrun


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step * 4:
            return step * 4
    return ((value // 1000) + 1) * 1000


def timeline(buckets: Sequence[Bucket], *, title: str) -> Markup:
    """Stacked bars: ALLOW, BLOCK and dry run per bucket, a y axis with four ticks."""
    top = _nice_max(max((b.total for b in buckets), default=0))
    plot_w = WIDTH - PAD_LEFT - 8
    plot_h = HEIGHT - PAD_BOTTOM - 8
    slot = plot_w / max(1, len(buckets))
    bar_w = max(2.0, slot * 0.7)
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
    ]
    for i in range(5):
        value = top * i // 4
        y = 8 + plot_h - plot_h * i / 4
        out.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}'
            "</text>"
        )
    for n, bucket in enumerate(buckets):
        x = PAD_LEFT + n * slot + (slot - bar_w) / 2
        base = 8 + plot_h
        for cls, name in SERIES:
            count = getattr(bucket, cls)
            if not count:
                continue
            h = plot_h * count / top
            base -= h
            out.append(
                f'<rect class="c-{cls}" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}"><title>{escape(bucket.label)}: {count} {name}</title></rect>'
            )
        if n % max(1, len(buckets) // 6) == 0:
            out.append(
                f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(bucket.label)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every value above is a number or escaped


def top_bars(items: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """Horizontal bars with the label and count as text beside each."""
    row = 26
    height = max(1, len(items)) * row + 8
    top = max((c for _, c in items), default=1) or 1
    label_w = 260
    bar_space = WIDTH - label_w - 60
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, count) in enumerate(items):
        y = 4 + i * row
        w = max(2.0, bar_space * count / top)
        short = label if len(label) <= 36 else label[:35] + "\u2026"
        out.append(
            f'<text class="label" x="{label_w - 8}" y="{y + 17}" text-anchor="end">'
            f"{escape(short)}</text>"
            f'<rect class="c-block" x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}">'
            f"<title>{escape(label)}: {count}</title></rect>"
            f'<text class="axis" x="{label_w + w + 6:.1f}" y="{y + 17}">{count}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every value above is a number or escaped
