"""Errors of the audit store; each renders itself like every other `GateError`."""

from __future__ import annotations

from webhook.errors import GateError


class AuditWriteError(GateError):
    """A record could not be made durable; the decision it carries must become a BLOCK."""

    policy = "audit-write-failed"


class AuditReadError(GateError):
    """The store (or an export) cannot be read: missing, corrupted, truncated, not ours."""

    policy = "audit-unreadable"


class AlertNotFoundError(GateError):
    """An alert id that does not exist was acknowledged (the API maps this to 404)."""

    policy = "alert-not-found"
