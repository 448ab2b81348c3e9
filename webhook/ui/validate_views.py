"""Migration and replication pages: the API's upload path and Gate call, rendered as a page.

The upload is read by the API door itself (same parts, limits, spool and budget), then the CSRF
token is checked, then the door decides with source `ui`: so the same files give the same
Decision bytes as the API, and every decision is audited. A refused upload (too large, wrong
type, missing part, bad CSRF) gets its 4xx and the form again, nothing decided, no spool left.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from webhook.audit import AuditQuery
from webhook.contracts.decision import Decision
from webhook.contracts.env import ENVS
from webhook.server.http import HTTPError
from webhook.server.uploads import Upload
from webhook.ui.context import CSRF_FIELD, UiContext
from webhook.ui.security import same_origin
from webhook.ui.sessions import Session

PAGES = {"T1": ("migration", "migration.html"), "T2": ("replication", "replication.html")}


def _small(upload: Upload, name: str) -> bytes | None:
    part = upload.files.pop(name, None)
    value = part.value() if part is not None else None
    return value if isinstance(value, bytes) else None


class ValidateViews:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    def _form(
        self, request: Request, session: Session, scenario: str, status: int = 200, **extra: Any
    ) -> Response:
        active, template = PAGES[scenario]
        principal = session.principal
        context: dict[str, Any] = {"result": None, "seq": None, "decision_json": ""}
        context.update(extra)
        return self.ctx.render(
            request, template, session, active, status,
            envs=[e for e in ENVS if e in principal.envs], default_env=principal.default_env,
            can_validate=principal.allows("operator"), **context,
        )  # fmt: skip

    async def migration_form(self, request: Request) -> Response:
        return self._form(request, self.ctx.require(request), "T1")

    async def replication_form(self, request: Request) -> Response:
        return self._form(request, self.ctx.require(request), "T2")

    async def migration(self, request: Request) -> Response:
        return await self._validate(request, "T1")

    async def replication(self, request: Request) -> Response:
        return await self._validate(request, "T2")

    async def _validate(self, request: Request, scenario: str) -> Response:
        if not same_origin(request):
            raise HTTPError(403, "cross-site", "cross-site form posts are refused")
        session = self.ctx.require(request, "operator")  # before a byte of the body is read
        state: dict[str, Any] = request.scope.setdefault("state", {})
        door = self.ctx.door
        try:
            upload = await door.receive_upload(
                request, scenario, extra=frozenset({CSRF_FIELD}), skip_empty=True
            )
        except HTTPError as exc:
            return self._form(request, session, scenario, exc.status, error=exc.detail)
        if not self.ctx.sessions.csrf_ok(session, _small(upload, CSRF_FIELD)):
            await upload.close()
            raise HTTPError(403, "csrf", "missing or wrong CSRF token: reload the page")
        try:
            decide = door.decide_migration if scenario == "T1" else door.decide_replication
            decision, body = await decide(upload, state, session.principal, None, source="ui")
        except HTTPError as exc:  # a missing part, an env outside the token's scope
            return self._form(request, session, scenario, exc.status, error=exc.detail)
        seq = await self._seq(decision)
        response = self._form(
            request, session, scenario, result=decision, seq=seq,
            decision_json=body.decode("utf-8"),
        )  # fmt: skip
        response.headers["X-Decision"] = decision.decision
        return response

    async def _seq(self, decision: Decision) -> int | None:
        """The audit record's seq, for the link (None if the record cannot be found)."""
        store = self.ctx.gate.state.store
        if store is None:
            return None
        query = AuditQuery(request_id=decision.request_id[:256], limit=1)
        try:
            page = await self.ctx.read(lambda: store.query(query))
        except Exception:
            return None
        return page.records[0].seq if page.records else None
