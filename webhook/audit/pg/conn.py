"""Connection settings of every PostgreSQL connection the gate opens, and safe error text.

Every wait is bounded, so a database that is down or hung turns into a BLOCK within the
decision's deadline rather than a request that hangs: connect_timeout, TCP keepalives and
tcp_user_timeout (a peer that vanished), statement_timeout and lock_timeout (a server that is
up but stuck, or a chain lock held by a stuck replica).
"""

from __future__ import annotations

from typing import Any

import psycopg

from webhook.audit.target import PostgresTarget

CONNECT_TIMEOUT_S = 3
STATEMENT_TIMEOUT_MS = 5000
LOCK_TIMEOUT_MS = 3000
IDLE_IN_TRANSACTION_MS = 30000
TCP_USER_TIMEOUT_MS = 5000


def connect_kwargs(
    target: PostgresTarget, *, application: str = "migration-gate"
) -> dict[str, Any]:
    """libpq parameters: the target's, then our bounds (a URL's own connect_timeout wins)."""
    kwargs: dict[str, Any] = target.connect_kwargs()
    kwargs.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    kwargs.setdefault("application_name", application)
    ours = (
        f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS} "
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
    )
    kwargs["options"] = f"{ours} {kwargs['options']}" if kwargs.get("options") else ours
    if not str(kwargs["host"]).startswith("/"):  # TCP only: a Unix socket has no such peer
        kwargs.update(
            keepalives="1",
            keepalives_idle="5",
            keepalives_interval="2",
            keepalives_count="2",
            tcp_user_timeout=str(TCP_USER_TIMEOUT_MS),
        )
    return kwargs


def connect(target: PostgresTarget, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """One bounded connection (the writer's, or a reader's outside the pool)."""
    return psycopg.connect(autocommit=autocommit, **connect_kwargs(target))


def pg_error(exc: BaseException) -> str:
    """libpq's own words, one line, prefixed by the class (never the connection parameters).

    libpq messages name host, port and user, never a password; the text is cut to one line
    so a server's DETAIL/HINT cannot smuggle a multi-line log entry.
    """
    text = (str(exc) or type(exc).__name__).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {first[:500]}"
