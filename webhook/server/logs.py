"""Structured JSON logs on stderr (stdout carries the audit JSON lines) and per-request ids.

`RequestContext` is a pure ASGI middleware: it accepts a sane `X-Request-ID` or makes one,
echoes it on the response, times the request for `request_duration_seconds{door}` and writes
one access line: ts, level, request_id, door, method, path, status, duration_ms, decision.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhook.audit.canonical import utc_now
from webhook.contracts.redact import redact_text
from webhook.server.metrics import GateMetrics

access_log = logging.getLogger("migration_gate.access")
log = logging.getLogger("migration_gate.app")
#: the status an access line records for a client that left before its answer (nginx's 499)
CLIENT_GONE = 499

_ACCESS_LOGGER = encode_basestring(access_log.name)
_quote = encode_basestring
#: state keys an access line carries when a door set them, in line order
_OPTIONAL = ("decision", "principal")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_EXTRAS = (
    "event", "request_id", "door", "method", "path", "status", "duration_ms", "decision",
    "principal", "component", "url", "what", "file", "trigger", "old_digest", "new_digest",
)  # fmt: skip


#: a log message or traceback past this many characters is cut (redaction caps, never drops)
_LOG_TEXT = 16384


class JsonFormatter(logging.Formatter):
    """One JSON object per line; only whitelisted extras, so nothing secret slips in by accident."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage(), limit=_LOG_TEXT, quoted=False),
        }
        for key in _EXTRAS:
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        if record.exc_info:
            out["exc"] = redact_text(
                self.formatException(record.exc_info), limit=_LOG_TEXT, quoted=False
            )
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    """Route every logger (ours and uvicorn's) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # RequestContext writes access lines


def utc_timestamp() -> str:
    """`rfc3339(datetime.now(UTC))`: microseconds and `Z` (a decision's timestamp).

    The audit writer's `utc_now`: the same format, with the date-and-time part formatted once
    per second (every request stamps at least one time, and `datetime.now(UTC).isoformat()`
    costs more than the rest of its access line).
    """
    return utc_now()


def log_timestamp() -> str:
    """`datetime.now(UTC).isoformat(timespec="milliseconds")` (an access line's `ts`).

    Both truncate: `YYYY-MM-DDTHH:MM:SS.fff` is the first 23 characters of `utc_now()`.
    """
    return utc_now()[:23] + "+00:00"


def access_line(
    *, ts: str, request_id: str, door: str, scope: Scope, status: int, duration_ms: float,
    state: dict[str, Any],
) -> str:  # fmt: skip
    """The access line: byte for byte `json.dumps(fields, ensure_ascii=False)`, 3x faster.

    Strings are escaped by the stdlib's own `encode_basestring` (json.dumps' escaper with
    ensure_ascii=False) and numbers written by `int.__repr__`/`float.__repr__` as json.dumps
    writes them, so only the dict and the encoder set-up are saved; a value of any other type
    takes json.dumps itself.
    """
    method, path = scope.get("method"), scope.get("path")
    extra = ""
    plain = type(status) is int and type(duration_ms) is float  # not bool, not a subclass
    for key in _OPTIONAL:
        if key in state:
            value = state[key]
            plain = plain and isinstance(value, str)
            extra = f'{extra}, "{key}": {_quote(value) if plain else ""}'
    if plain and isinstance(method, str) and isinstance(path, str):
        return (
            f'{{"ts": {_quote(ts)}, "level": "info", "logger": {_ACCESS_LOGGER}, '
            f'"msg": "request", "request_id": {_quote(request_id)}, "door": {_quote(door)}, '
            f'"method": {_quote(method)}, "path": {_quote(path)}, '
            f'"status": {int.__repr__(status)}, "duration_ms": {float.__repr__(duration_ms)}'
            f"{extra}}}"
        )
    line: dict[str, Any] = {
        "ts": ts,
        "level": "info",
        "logger": access_log.name,
        "msg": "request",
        "request_id": request_id,
        "door": door,
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
    }
    line.update((k, state[k]) for k in _OPTIONAL if k in state)
    return json.dumps(line, ensure_ascii=False)


def new_request_id() -> str:
    """A fresh random request id (uuid4: 122 bits from os.urandom).

    Random, not a counter: an id shows up in responses, logs and audit records, and a
    sequence would tell a client how many requests the gate served and let it predict the
    ids of other clients' requests (to look them up, or to collide with them on purpose).
    """
    return str(uuid.uuid4())


def request_id_from(raw: str | None) -> str:
    """The caller's id if it is sane (it ends up in logs and headers), else a fresh one."""
    if raw is not None and _SANE_ID.fullmatch(raw):
        return raw
    return new_request_id()


def scope_request_id(scope: Scope) -> str:
    """The request id for an ASGI scope: a sane `X-Request-ID` header, else a fresh one."""
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            return request_id_from(value.decode("latin-1"))
    return request_id_from(None)


class AccessLog:
    """The end of every request: `request_duration_seconds{door}` and one JSON access line."""

    def __init__(self, door: str, metrics: GateMetrics) -> None:
        self.door = door
        self.histogram = metrics.request_duration.labels(door=door)

    def done(
        self, scope: Scope, request_id: str, status: int, start: float, state: dict[str, Any]
    ) -> None:
        elapsed = time.perf_counter() - start
        self.histogram.observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            line = access_line(
                ts=log_timestamp(), request_id=request_id, door=self.door, scope=scope,
                status=status, duration_ms=round(elapsed * 1000, 3), state=state,
            )  # fmt: skip
            # one write, no logging machinery: this runs on every request
            sys.stderr.write(line + "\n")


class RequestContext:
    """ASGI middleware: request id, duration metric, one JSON access line per request."""

    def __init__(self, app: ASGIApp, *, door: str, metrics: GateMetrics) -> None:
        self.app = app
        self.door = door
        self.access = AccessLog(door, metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = scope_request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        header = (b"x-request-id", request_id.encode("ascii"))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_wrapper(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            status = CLIENT_GONE  # nobody to answer; not a server error
        except Exception as exc:
            if started:
                raise
            # answered here, inside the request id's reach (Starlette's outermost handler is not)
            log.exception("unhandled error", extra={"request_id": request_id})
            status = 500
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            detail = f"internal error ({type(exc).__name__})"
            body = json.dumps({"error": "internal-error", "detail": detail}).encode()
            await send_wrapper({"type": "http.response.body", "body": body})
        finally:
            self.access.done(scope, request_id, status, start, state)
