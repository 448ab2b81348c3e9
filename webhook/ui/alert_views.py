"""Alerts: firing first, by severity (the store's order); counts; filters; acknowledge."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from webhook.audit import Alert, AlertNotFoundError, AlertPage
from webhook.errors import GateError
from webhook.server.http import HTTPError
from webhook.ui.context import CSRF_FIELD, UiContext
from webhook.ui.forms import small_form
from webhook.ui.security import harden, same_origin

STATUSES = ("firing", "acknowledged")
SEVERITIES = ("P1", "P2", "P3", "P4")
PAGE_SIZE = 50
SCAN_LIMIT = 500
COUNT_PAGES = 4
MAX_ALERT_ID = 2**63 - 1


class AlertViews:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    async def _list(self, status: str | None, limit: int, cursor: str | None) -> AlertPage:
        store = self.ctx.store()
        try:
            page: AlertPage = await self.ctx.read(
                lambda: store.alerts.list(status=status, limit=limit, cursor=cursor)  # type: ignore[arg-type]
            )
        except GateError as exc:
            raise HTTPError(400, "bad-query", exc.diagnostics()) from None
        return page

    async def _counts(self) -> tuple[Counter[str], bool]:
        """Firing alerts per severity in the first COUNT_PAGES pages, and whether that was all."""
        counts: Counter[str] = Counter()
        cursor = None
        for _ in range(COUNT_PAGES):
            page = await self._list("firing", SCAN_LIMIT, cursor)
            counts.update(a.severity for a in page.alerts)
            cursor = page.next_cursor
            if cursor is None:
                return counts, True
        return counts, False

    async def _section(
        self, status: str, severity: str | None, cursor: str | None
    ) -> tuple[list[Alert], str | None]:
        """Up to PAGE_SIZE alerts of `status` (and `severity`), and the cursor after them."""
        if severity is None:
            page = await self._list(status, PAGE_SIZE, cursor)
            return page.alerts, page.next_cursor
        found: list[Alert] = []
        for _ in range(COUNT_PAGES):
            page = await self._list(status, SCAN_LIMIT, cursor)
            found += [a for a in page.alerts if a.severity == severity]
            cursor = page.next_cursor
            if cursor is None or len(found) >= PAGE_SIZE:
                break
        return found, cursor

    async def listing(self, request: Request) -> Response:
        session = self.ctx.require(request)
        q = request.query_params
        status = q.get("status", "") or None
        severity = q.get("severity", "") or None
        if status not in (None, *STATUSES) or severity not in (None, *SEVERITIES):
            raise HTTPError(
                400, "bad-query", "status must be firing or acknowledged; severity P1-P4"
            )
        cursor = q.get("cursor") or None
        sections: list[dict[str, Any]] = []
        for name in (status,) if status else STATUSES:
            alerts, more = await self._section(name, severity, cursor if status else None)
            filters = {"status": name, **({"severity": severity} if severity else {})}
            next_url = f"/ui/alerts?{urlencode({**filters, 'cursor': more})}" if more else None
            sections.append({"status": name, "alerts": alerts, "next_url": next_url})
        counts, complete = await self._counts()
        acked = q.get("acked")
        return self.ctx.render(
            request, "alerts.html", session, "alerts", sections=sections, counts=counts,
            counts_complete=complete, severities=SEVERITIES, statuses=STATUSES,
            values={"status": status or "", "severity": severity or ""},
            notice=f"Alert {acked} acknowledged." if acked and acked.isdigit() else None,
            can_ack=session.principal.allows("operator"),
        )  # fmt: skip

    async def ack(self, request: Request) -> Response:
        if not same_origin(request):
            raise HTTPError(403, "cross-site", "cross-site form posts are refused")
        session = self.ctx.require(request, "operator")
        form = await small_form(request)
        if not self.ctx.sessions.csrf_ok(session, form.get(CSRF_FIELD)):
            raise HTTPError(403, "csrf", "missing or wrong CSRF token: reload the page")
        raw: str = request.path_params["alert_id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 19) or not (
            1 <= int(raw) <= MAX_ALERT_ID
        ):
            raise HTTPError(404, "not-found", f"no alert with id {raw[:32]!r}")
        alert_id = int(raw)
        store = self.ctx.store()
        who = session.principal.name
        try:
            await self.ctx.read(lambda: store.alerts.ack(alert_id, who))
        except AlertNotFoundError:
            raise HTTPError(404, "not-found", f"no alert with id {alert_id}") from None
        return harden(RedirectResponse(f"/ui/alerts?acked={alert_id}", status_code=303))
