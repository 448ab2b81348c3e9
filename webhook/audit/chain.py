"""Walk a chain of records in seq order and say where, and why, it first breaks.

Shared by the live store and by JSONL exports, so an archive is checked exactly like the DB.
Streaming: one record in memory at a time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.audit.canonical import GENESIS_HASH, RECORD_FIELDS, record_hash
from webhook.audit.errors import AuditReadError
from webhook.audit.models import VerifyResult
from webhook.errors import InputError

#: columns holding JSON text in the database
JSON_COLUMNS = ("subject", "reasons", "warnings", "audited", "digests")
MAX_EXPORT_LINE = 1 << 20


_ANCHOR = re.compile(r"([0-9]{1,18})(?::([0-9a-fA-F]{64}))?")


@dataclass(frozen=True, slots=True)
class Anchor:
    """A head written down elsewhere (SIEM, change log): record `seq` exists and hashes to `hash`.

    Checked against the record AT `seq`, however long the chain has grown since: a chain rebuilt
    from genesis with other content has another hash there, so it cannot pass by being longer.
    """

    seq: int
    hash: str | None = None


def parse_anchor(text: str) -> Anchor:
    """`SEQ` or `SEQ:HASH` (ASCII digits >= 1, 64 hex digits); InputError naming the option."""
    match = _ANCHOR.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        raise InputError(
            f"must be SEQ or SEQ:HASH with SEQ >= 1 and HASH 64 hex digits (got {text[:80]!r})",
            field="--expect-head",
        )
    digest = match.group(2)
    return Anchor(int(match.group(1)), digest.lower() if digest else None)


class BrokenRecord(Exception):
    """A record that cannot even be decoded; reported as the break at its seq."""

    def __init__(self, seq: int | None, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


def row_to_record(row: tuple[Any, ...]) -> dict[str, Any]:
    """A database row (RECORD_COLUMNS order) as the record the hash is computed over."""
    record = dict(zip(RECORD_FIELDS, row, strict=True))
    for name in JSON_COLUMNS:
        try:
            record[name] = json.loads(record[name])
        except (TypeError, ValueError) as exc:
            raise BrokenRecord(
                record.get("seq"), f"column {name} is not valid JSON: {exc}"
            ) from None
    record["dry_run"] = bool(record["dry_run"])
    return record


def walk(
    records: Iterable[Mapping[str, Any]],
    anchor: Anchor | None = None,
    *,
    start: tuple[int, str] = (1, GENESIS_HASH),
) -> VerifyResult:
    """Check seq = previous + 1 from 1, prev_hash = previous hash, hash = recomputed hash.

    With an `anchor`, the record at `anchor.seq` must exist and (when given) have its hash.
    `start` (first seq, the hash it must link to) walks a tail of the chain (`head.verify_head`).
    """
    (expected_seq, prev_hash), checked = start, 0
    iterator: Iterator[Mapping[str, Any]] = iter(records)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            break
        except BrokenRecord as broken:
            where = broken.seq if broken.seq is not None else expected_seq
            return _broken(checked, where, broken.reason)
        seq_value = record.get("seq")
        if not isinstance(seq_value, int) or isinstance(seq_value, bool):
            return _broken(
                checked, expected_seq, f"record after seq {expected_seq - 1} has no integer seq"
            )
        seq: int = seq_value
        if seq != expected_seq:
            if seq > expected_seq:
                missing = (
                    f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
                )
                why = f"record(s) {missing} missing: seq {seq} follows seq {expected_seq - 1}"
            else:
                why = f"seq {seq} out of order or duplicated: expected {expected_seq}"
            return _broken(checked, expected_seq, why)
        if record.get("prev_hash") != prev_hash:
            return _broken(
                checked,
                seq,
                f"prev_hash does not link to seq {seq - 1} (a record was removed, reordered or "
                "inserted here)"
                if seq > 1
                else "prev_hash of seq 1 is not the genesis hash",
            )
        try:
            computed = record_hash(record)
        except (KeyError, TypeError, ValueError) as exc:
            return _broken(checked, seq, f"record cannot be encoded: {exc}")
        if computed != record.get("hash"):
            return _broken(
                checked,
                seq,
                f"hash mismatch: stored {str(record.get('hash'))[:16]}..., contents "
                f"hash to {computed[:16]}... (the record was changed)",
            )
        if anchor is not None and seq == anchor.seq and anchor.hash not in (None, computed):
            return _broken(
                checked,
                seq,
                f"hash of seq {seq} is {computed}, the anchor says {anchor.hash}: the chain was "
                "rewritten up to here",
            )
        prev_hash = computed
        expected_seq += 1
        checked += 1
    head = expected_seq - 1
    if anchor is not None and head < anchor.seq:
        return _broken(
            checked,
            head + 1,
            f"chain ends at seq {head} but the anchor is seq {anchor.seq}: records were removed "
            "from the end",
        )
    return VerifyResult(
        ok=True, checked=checked, head_seq=head or None, head_hash=prev_hash if head else None
    )


def _broken(checked: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, first_bad_seq=seq, reason=reason)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of an export, one JSON object per line; AuditReadError if the file cannot be read."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise AuditReadError(f"cannot open export: {exc.strerror or exc}", file=str(path)) from None
    with handle:
        for number, line in enumerate(iter(lambda: handle.readline(MAX_EXPORT_LINE + 1), b""), 1):
            if len(line) > MAX_EXPORT_LINE:
                raise BrokenRecord(None, f"line {number} is longer than {MAX_EXPORT_LINE} bytes")
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise BrokenRecord(None, f"line {number} is not JSON: {exc}") from None
            if not isinstance(value, dict) or set(value) != set(RECORD_FIELDS):
                seq = value.get("seq") if isinstance(value, dict) else None
                raise BrokenRecord(
                    seq if isinstance(seq, int) else None,
                    f"line {number} does not have exactly the record fields "
                    f"{', '.join(RECORD_FIELDS)}",
                )
            yield value


def verify_jsonl(path: Path, anchor: Anchor | None = None) -> VerifyResult:
    """Verify an export offline (against an anchor if given); unreadable file -> readable=False."""
    try:
        return walk(read_jsonl(path), anchor)
    except AuditReadError as exc:
        return VerifyResult(ok=False, checked=0, readable=False, reason=exc.diagnostics())
