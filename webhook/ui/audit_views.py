"""Audit log pages: filters, keyset pagination (the store's cursor), one record, chain status.

Only the store's public API is used (`query`, `get`, `verify_head`), so the pages work on any
store behind it, SQLite or PostgreSQL; every filter, `policy` included, is the store's query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from webhook.audit import AuditPage, AuditQuery, AuditRecord
from webhook.errors import GateError
from webhook.server.http import HTTPError
from webhook.ui.chain import WINDOW, ChainStatus
from webhook.ui.context import UiContext

FILTERS = (
    "since", "until", "scenario", "decision", "env", "subject", "policy", "request_id",
    "source", "dry_run",
)  # fmt: skip
PAGE_SIZE = 50
MAX_SEQ = 2**62


def _time(name: str, raw: str) -> datetime:
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise HTTPError(
            400, "bad-query", f"{name}: {raw[:40]!r} is not a date and time (YYYY-MM-DDTHH:MM)"
        ) from None


def parse_filters(params: dict[str, str]) -> dict[str, Any]:
    """AuditQuery arguments from the form's values (empty = no filter)."""
    args: dict[str, Any] = {}
    for name in FILTERS:
        raw = params.get(name, "").strip()
        if not raw:
            continue
        if name in ("since", "until"):
            args[name] = _time(name, raw)
        elif name == "dry_run":
            if raw not in ("true", "false"):
                raise HTTPError(400, "bad-query", "dry run must be true or false")
            args[name] = raw == "true"
        else:
            args[name] = raw
    return args


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
        return await self.ctx.read(lambda: store.verify_head(last=WINDOW))

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
            args = parse_filters(params)
            cursor = params.get("cursor") or None
            query = AuditQuery(**args, limit=PAGE_SIZE, cursor=cursor)
        except ValidationError as exc:
            return await self._render(request, session, values, 400, error=_first_error(exc))
        except HTTPError as exc:
            return await self._render(request, session, values, exc.status, error=exc.detail)
        page = await self._page(query)
        more = page.next_cursor
        kept = {k: v for k, v in values.items() if v}
        return await self._render(
            request, session, values, records=page.records,
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
        context: dict[str, Any] = {"records": [], "next_url": None, "first_url": None}
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
        store = self.ctx.store()
        found: AuditRecord | None = await self.ctx.read(lambda: store.get(seq))
        if found is None:
            raise HTTPError(404, "not-found", f"no audit record with seq {seq}")
        ok, line = await self.chain.line()
        return self.ctx.render(
            request, "record.html", session, "audit", record=found, chain_ok=ok,
            chain_line=line,
        )  # fmt: skip
