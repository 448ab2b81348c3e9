"""Bounded verify: the newest `last` records' seqs, links and hashes (and the anchor), in O(last).

For a status line that runs every few seconds: a whole-chain walk grows with the chain, this
does not. It proves less: the record before the window is trusted for its stored hash only, so
an edit further back is found by the full `verify` (or by an anchor below the window, whose
record is re-hashed here). Backend-neutral: the store passes a `Rows` reader that runs every
statement in one read snapshot, with `?` placeholders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from webhook.audit.canonical import GENESIS_HASH, record_hash
from webhook.audit.chain import Anchor, BrokenRecord, row_to_record, walk
from webhook.audit.models import VerifyResult
from webhook.audit.schema import RECORD_COLUMNS

#: the largest window a caller may ask for (a full walk is `verify`)
MAX_LAST = 100_000

Rows = Callable[[str, Sequence[object]], list[tuple[Any, ...]]]

_HEAD = "SELECT COALESCE(MAX(seq), 0) FROM audit_log"
_HASH = "SELECT hash FROM audit_log WHERE seq = ?"
_ONE = f"SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq = ?"  # noqa: S608 - constant columns
_WINDOW = f"SELECT {RECORD_COLUMNS} FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?"  # noqa: S608


def check_last(last: int) -> int:
    """`last` as given, or ValueError: a bounded verify needs a bound."""
    if isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= MAX_LAST:
        raise ValueError(f"last must be an integer from 1 to {MAX_LAST} (got {last!r})")
    return last


def verify_head(rows: Rows, last: int, anchor: Anchor | None = None) -> VerifyResult:
    """Walk records head-last+1 .. head; ok True means "intact up to seq head" for that window.

    `checked` is the window's size (the whole chain when it is shorter than `last`), so the
    window is `head_seq - checked + 1 .. head_seq`.
    """
    last = check_last(last)
    head = int(rows(_HEAD, ())[0][0])
    if head == 0:
        if anchor is not None:
            why = f"chain is empty but the anchor is seq {anchor.seq}: records were removed"
            return VerifyResult(ok=False, checked=0, first_bad_seq=1, reason=why)
        return VerifyResult(ok=True, checked=0)
    start = max(1, head - last + 1)
    prev_hash = GENESIS_HASH
    if start > 1:
        found = rows(_HASH, (start - 1,))
        if not found:
            why = f"record {start - 1} missing: seq {start} has no predecessor"
            return VerifyResult(ok=False, checked=0, first_bad_seq=start - 1, reason=why)
        prev_hash = str(found[0][0])
    if anchor is not None and anchor.seq < start:
        broken = _below_window(rows, anchor)
        if broken is not None:
            return broken
    window = rows(_WINDOW, (start, head - start + 1))
    return walk(_records(window), anchor, start=(start, prev_hash))


def _records(window: list[tuple[Any, ...]]) -> Iterator[dict[str, Any]]:
    for row in window:
        yield row_to_record(row)


def _below_window(rows: Rows, anchor: Anchor) -> VerifyResult | None:
    """The anchored record exists, its contents hash to its stored hash and to the anchor's."""
    found = rows(_ONE, (anchor.seq,))
    if not found:
        why = f"anchor seq {anchor.seq} is not in the chain: a record was removed"
        return VerifyResult(ok=False, checked=0, first_bad_seq=anchor.seq, reason=why)
    try:
        record = row_to_record(found[0])
        computed = record_hash(record)
    except BrokenRecord as exc:
        return VerifyResult(ok=False, checked=0, first_bad_seq=anchor.seq, reason=exc.reason)
    except (KeyError, TypeError, ValueError) as exc:
        why = f"record cannot be encoded: {exc}"
        return VerifyResult(ok=False, checked=0, first_bad_seq=anchor.seq, reason=why)
    if computed != record.get("hash"):
        why = f"hash mismatch at the anchor seq {anchor.seq}: the record was changed"
        return VerifyResult(ok=False, checked=0, first_bad_seq=anchor.seq, reason=why)
    if anchor.hash not in (None, computed):
        why = (
            f"hash of seq {anchor.seq} is {computed}, the anchor says {anchor.hash}: the chain "
            "was rewritten up to here"
        )
        return VerifyResult(ok=False, checked=0, first_bad_seq=anchor.seq, reason=why)
    return None
