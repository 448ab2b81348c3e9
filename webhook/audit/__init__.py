"""Append-only, hash-chained audit store and alerts (docs/audit.md).

Rule: nothing here deletes or rewrites a record, and a decision whose record is not durable is a
BLOCK (`record_decision`). Sits beside the engine: imports contracts and errors only, never a door.
"""

from webhook.audit.chain import verify_jsonl
from webhook.audit.errors import AlertNotFoundError, AuditReadError, AuditWriteError
from webhook.audit.export import export_jsonl
from webhook.audit.models import (
    Alert,
    AlertPage,
    AuditPage,
    AuditQuery,
    AuditRecord,
    VerifyResult,
)
from webhook.audit.record import AUDIT_WRITE_FAILED, record_decision
from webhook.audit.store import AuditStore, open_store, verify_path

__all__ = [
    "AUDIT_WRITE_FAILED",
    "Alert",
    "AlertNotFoundError",
    "AlertPage",
    "AuditPage",
    "AuditQuery",
    "AuditReadError",
    "AuditRecord",
    "AuditStore",
    "AuditWriteError",
    "VerifyResult",
    "export_jsonl",
    "open_store",
    "record_decision",
    "verify_jsonl",
    "verify_path",
]
