"""The dashboard: the last day's decisions per hour, and what blocked most, as SVG.

Built from the newest records of the last 24 hours through the store's query API (at most
`SCAN_PAGES` pages), so its cost is bounded however busy the gate is; the figures are shared by
every viewer until a new record is appended (the newest seq is checked per request, one row)
or `MAX_AGE` seconds pass (the window slides), with one scan in flight at a time.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from webhook.audit import AuditPage, AuditQuery, AuditRecord
from webhook.ui.charts import Bucket, timeline, top_bars
from webhook.ui.context import UiContext

HOURS = 24
SCAN_LIMIT = 500
SCAN_PAGES = 8
TOP = 8
MAX_AGE = 60.0


def subject_label(subject: dict[str, str]) -> str:
    if "app_id" in subject:
        return subject["app_id"]
    if "source_db" in subject or "target_db" in subject:
        return f"{subject.get('source_db', '?')} \u2192 {subject.get('target_db', '?')}"
    return "(no subject)"


def buckets(records: Sequence[AuditRecord], now: datetime) -> list[Bucket]:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    counts = [Counter[str]() for _ in range(HOURS)]
    for record in records:
        try:
            ts = datetime.fromisoformat(record.ts.replace("Z", "+00:00"))
        except ValueError:
            continue
        slot = int((ts - start).total_seconds() // 3600)
        if 0 <= slot < HOURS:
            kind = "dryrun" if record.dry_run else record.decision.lower()
            counts[slot][kind] += 1
    return [
        Bucket(
            label=(start + timedelta(hours=i)).strftime("%H:00"),
            allow=c["allow"],
            block=c["block"],
            dryrun=c["dryrun"],
        )
        for i, c in enumerate(counts)
    ]


def top_blocking(
    records: Sequence[AuditRecord],
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    policies: Counter[str] = Counter()
    subjects: Counter[str] = Counter()
    for record in records:
        if record.decision != "BLOCK":
            continue
        policies.update({r.policy for r in record.reasons})
        subjects[subject_label(record.subject)] += 1
    return policies.most_common(TOP), subjects.most_common(TOP)


class DashboardView:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self._task: asyncio.Task[dict[str, Any]] | None = None
        self._at = 0.0
        self._head: int | None = None

    async def _newest(self) -> int | None:
        store = self.ctx.store()
        page: AuditPage = await self.ctx.read(functools.partial(store.query, AuditQuery(limit=1)))
        return page.records[0].seq if page.records else None

    async def figures(self) -> dict[str, Any]:
        """The page's numbers: recomputed when a record was appended since, or MAX_AGE passed
        (a failed scan is retried on the next request)."""
        head = await self._newest()
        task = self._task
        stale = head != self._head or time.monotonic() - self._at > MAX_AGE
        if task is None or (stale and task.done()) or (stale and head != self._head):
            task = self._task = asyncio.ensure_future(self._compute())
            self._at = time.monotonic()
            self._head = head
        try:
            return await asyncio.shield(task)
        except Exception:
            self._task = None
            raise

    async def _compute(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        records, complete = await self._recent(now)
        slots = buckets(records, now)
        policies, subjects = top_blocking(records)
        return {
            "timeline": timeline(slots, title="Decisions per hour, last 24 hours (UTC)"),
            "policies": policies,
            "subjects": subjects,
            "policy_chart": top_bars(policies, title="Top blocking policies") if policies else None,
            "subject_chart": top_bars(subjects, title="Top blocked subjects") if subjects else None,
            "totals": Counter("dry run" if r.dry_run else r.decision for r in records),
            "scanned": len(records),
            "complete": complete,
            "slots": slots,
            "as_of": now.strftime("%H:%M:%S"),
        }

    async def _recent(self, now: datetime) -> tuple[list[AuditRecord], bool]:
        store = self.ctx.store()
        query = AuditQuery(since=now - timedelta(hours=HOURS), limit=SCAN_LIMIT)
        records: list[AuditRecord] = []
        for _ in range(SCAN_PAGES):
            page: AuditPage = await self.ctx.read(functools.partial(store.query, query))
            records += page.records
            if page.next_cursor is None:
                return records, True
            query = query.model_copy(update={"cursor": page.next_cursor})
        return records, False

    async def show(self, request: Request) -> Response:
        session = self.ctx.require(request)
        return self.ctx.render(
            request, "dashboard.html", session, "dashboard", **(await self.figures())
        )
