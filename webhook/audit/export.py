"""Archive: the chain as JSONL (one canonical record per line), verifiable offline."""

from __future__ import annotations

import os
from pathlib import Path

from webhook.audit.canonical import canonical_json
from webhook.audit.errors import AuditReadError
from webhook.audit.store import iter_path


def export_jsonl(db_path: Path, out: Path) -> int:
    """Write every record in seq order to `out` atomically (temp file + rename); return the count.

    Exports are not verified on the way out on purpose: `verify_jsonl(out)` checks the archive
    itself, which is what an auditor will hold.
    """
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="ascii", newline="\n") as handle:
            for record in iter_path(db_path):
                handle.write(canonical_json(record) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise AuditReadError(f"cannot write export: {exc.strerror or exc}", file=str(out)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return count
