"""Audit log pages: filters, keyset pagination (the store's cursor), one record, chain status.

Only the store's public query API is used, so the pages work on any store behind it. The
`policy` filter is not a store filter: pages of the filtered query are scanned (at most
`SCAN_PAGES` of `SCAN_LIMIT` records) for records naming the policy, and the page says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from webhook.audit import AuditPage, AuditQuery, AuditRecord
from webhook.audit.query import next_cursor
from webhook.errors import GateError
from webhook.server.http import HTTPError
from webhook.ui.chain import ChainStatus
from webhook.ui.context import UiContext

FILTERS = (
    "since", "until", "scenario", "decision", "env", "subject", "policy", "request_id",
    "source", "dry_run",
)  # fmt: skip
PAGE_SIZE = 50
SCAN_LIMIT = 500
SCAN_PAGES = 10
MAX_SEQ = 2**62


def names_policy(record: AuditRecord, policy: str) -> bool:
    return any(r.policy == policy for r in (*record.reasons, *record.warnings, *record.audited))


def _time(name: str, raw: str) -> datetime:
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise HTTPError(
            400, "bad-query", f"{name}: {raw[:40]!r} is not a date and time (YYYY-MM-DDTHH:MM)"
        ) from None


def parse_filters(params: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """AuditQuery arguments from the form's values (empty = no filter), and the policy."""
    args: dict[str, Any] = {}
    for name in FILTERS:
        raw = params.get(name, "").strip()
        if not raw or name == "policy":
            continue
        if name in ("since", "until"):
            args[name] = _time(name, raw)
        elif name == "dry_run":
            if raw not in ("true", "false"):
                raise HTTPError(400, "bad-query", "dry run must be true or false")
            args[name] = raw == "true"
        else:
            args[name] = raw
    policy = params.get("policy", "").strip()[:128] or None
    return args, policy


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err.get("loc", ()))
    return f"{loc}: {err.get('msg')}" if loc else str(err.get("msg"))


class AuditViews:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self.chain = ChainStatus(self._verify)

    async def _verify(self) -> Any:
        store = self.ctx.store()
        return await self.ctx.read(store.verify)

    async def _page(self, query: AuditQuery) -> AuditPage:
        store = self.ctx.store()
        try:
            page: AuditPage = await self.ctx.read(lambda: store.query(query))
        except GateError as exc:  # e.g. a cursor that does not decode
            raise HTTPError(400, "bad-query", exc.diagnostics()) from None
        return page

    async def listing(self, request: Request) -> Response:
        session = self.ctx.require(request)
        params = {k: v for k, v in request.query_params.items() if k in (*FILTERS, "cursor")}
        values = {name: params.get(name, "") for name in FILTERS}
        try:
            args, policy = parse_filters(params)
            cursor = params.get("cursor") or None
            query = AuditQuery(**args, limit=SCAN_LIMIT if policy else PAGE_SIZE, cursor=cursor)
        except ValidationError as exc:
            return await self._render(request, session, values, 400, error=_first_error(exc))
        except HTTPError as exc:
            return await self._render(request, session, values, exc.status, error=exc.detail)
        records: list[AuditRecord] = []
        scanned = 0
        page = await self._page(query)
        while True:
            scanned += len(page.records)
            if policy is None:
                records = page.records
                break
            records += [r for r in page.records if names_policy(r, policy)]
            if len(records) >= PAGE_SIZE or page.next_cursor is None:
                break
            if scanned >= SCAN_LIMIT * SCAN_PAGES:
                break
            page = await self._page(query.model_copy(update={"cursor": page.next_cursor}))
        more = page.next_cursor
        kept = {k: v for k, v in values.items() if v}
        return await self._render(
            request, session, values, records=records, scanned=scanned if policy else None,
            next_url=f"/ui/audit?{urlencode({**kept, 'cursor': more})}" if more else None,
            first_url=f"/ui/audit?{urlencode(kept)}" if cursor else None,
        )  # fmt: skip

    async def _render(
        self,
        request: Request,
        session: Any,
        values: dict[str, str],
        status: int = 200,
        **extra: Any,
    ) -> Response:
        ok, line = await self.chain.line()
        context: dict[str, Any] = {"records": [], "scanned": None, "next_url": None,
                                   "first_url": None}  # fmt: skip
        context.update(extra)
        return self.ctx.render(
            request, "audit.html", session, "audit", status, values=values, chain_ok=ok,
            chain_line=line, **context,
        )  # fmt: skip

    async def record(self, request: Request) -> Response:
        session = self.ctx.require(request)
        raw: str = request.path_params["seq"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18) or not 1 <= int(raw) < MAX_SEQ:
            raise HTTPError(404, "not-found", f"no audit record {raw[:32]!r}")
        seq = int(raw)
        page = await self._page(AuditQuery(cursor=next_cursor(seq + 1), limit=1))
        if not page.records or page.records[0].seq != seq:
            raise HTTPError(404, "not-found", f"no audit record with seq {seq}")
        ok, line = await self.chain.line()
        return self.ctx.render(
            request, "record.html", session, "audit", record=page.records[0], chain_ok=ok,
            chain_line=line,
        )  # fmt: skip
