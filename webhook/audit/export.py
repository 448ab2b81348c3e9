"""Archive: the chain as JSONL (one canonical record per line), verifiable offline."""

from __future__ import annotations

from pathlib import Path

from webhook.atomicfile import atomic_writer
from webhook.audit.canonical import canonical_json
from webhook.audit.errors import AuditReadError
from webhook.audit.store import iter_target


def export_jsonl(db_path: str | Path, out: Path) -> int:
    """Write every record of the store `db_path` (a path or URL) in seq order to `out`
    atomically; return the count.

    `webhook.atomicfile`: an O_EXCL temp file beside `out` (a symlink planted at a temp name is
    never followed), fsync, rename; the archive is 0600 (audit records name who changed what).

    Exports are not verified on the way out on purpose: `verify_jsonl(out)` checks the archive
    itself, which is what an auditor will hold.
    """
    count = 0
    try:
        with atomic_writer(out, mode=0o600) as handle:
            for record in iter_target(db_path):
                handle.write((canonical_json(record) + "\n").encode("ascii"))
                count += 1
    except OSError as exc:
        raise AuditReadError(f"cannot write export: {exc.strerror or exc}", file=str(out)) from None
    return count
