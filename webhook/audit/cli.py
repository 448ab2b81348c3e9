"""`migration-gate audit verify | tail | export`: the store's own subcommands.

The lead's CLI calls `register(subparsers, common_parent)`; each leaf sets `func(args) -> int`.
Exit codes: verify 0 intact / 1 broken chain / 2 unreadable store or usage; tail and export
0 ok / 2 unreadable store or usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from webhook.audit.canonical import canonical_json
from webhook.audit.chain import parse_anchor, verify_jsonl
from webhook.audit.errors import AuditReadError
from webhook.audit.export import export_jsonl
from webhook.audit.models import MAX_QUERY_LIMIT, AuditQuery, AuditRecord
from webhook.audit.store import AuditStore, verify_path
from webhook.errors import GateError, InputError

EXIT_OK, EXIT_BROKEN, EXIT_UNREADABLE = 0, 1, 2
AUDIT_DB_ENV = "MIGRATION_GATE_AUDIT_DB"
_FOLLOW_POLL_S = 1.0


def _has_option(parser: argparse.ArgumentParser, option: str) -> bool:
    return any(option in action.option_strings for action in parser._actions)


def register(subparsers: Any, common_parent: argparse.ArgumentParser) -> None:
    """Add `audit verify|tail|export` under the lead's subparsers (argparse _SubParsersAction)."""
    own = argparse.ArgumentParser(add_help=False)
    if not _has_option(common_parent, "--audit-db"):
        own.add_argument(
            "--audit-db",
            type=Path,
            default=os.environ.get(AUDIT_DB_ENV) or None,
            help=f"audit store (SQLite file); env {AUDIT_DB_ENV}",
        )
    output = argparse.ArgumentParser(add_help=False)
    if not _has_option(common_parent, "--output"):
        output.add_argument("--output", choices=("text", "json"), default="text")
    parents = [common_parent, own, output]

    audit = subparsers.add_parser(
        "audit",
        help="verify, read and export the audit trail",
        description="Verify, read and export the append-only, hash-chained audit trail.",
    )
    commands = audit.add_subparsers(dest="audit_command", metavar="{verify,tail,export}")
    commands.required = True

    verify = commands.add_parser(
        "verify",
        parents=parents,
        help="walk the hash chain; exit 0 intact, 1 broken, 2 unreadable",
        description="Recompute every record's hash in seq order and report the first break.",
    )
    verify.add_argument(
        "--jsonl",
        type=Path,
        default=None,
        metavar="FILE",
        help="verify an export (FILE.jsonl) instead of the store",
    )
    verify.add_argument(
        "--expect-head",
        default=None,
        metavar="SEQ[:HASH]",
        help="also require record SEQ to exist (and to hash to HASH), however long the chain "
        "has grown, e.g. a head from your SIEM: detects records removed from the end and a "
        "chain rewritten from genesis",
    )
    verify.set_defaults(func=cmd_verify)

    tail = commands.add_parser(
        "tail",
        parents=parents,
        help="newest records first, with filters",
        description="Show the newest records; --follow prints new ones as they come.",
    )
    tail.add_argument(
        "-n", "--lines", type=int, default=20, help=f"how many (1..{MAX_QUERY_LIMIT})"
    )
    tail.add_argument("--follow", "-f", action="store_true", help="keep printing new records")
    tail.add_argument(
        "--follow-for",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --follow: stop after this long (default: until interrupted)",
    )
    tail.add_argument("--since", type=_datetime, default=None, help="RFC 3339 time (inclusive)")
    tail.add_argument("--until", type=_datetime, default=None, help="RFC 3339 time (exclusive)")
    tail.add_argument("--scenario", choices=("T1", "T2"), default=None)
    tail.add_argument("--decision", choices=("ALLOW", "BLOCK"), default=None)
    tail.add_argument("--source", choices=("admission", "api", "ui", "cli"), default=None)
    tail.add_argument("--env", default=None)
    tail.add_argument("--subject", default=None, help="exact app_id, source_db or target_db")
    tail.add_argument("--request-id", default=None)
    tail.add_argument("--dry-run", choices=("yes", "no"), default=None)
    tail.set_defaults(func=cmd_tail)

    export = commands.add_parser(
        "export",
        parents=parents,
        help="write the whole chain to a JSONL file for archiving",
        description="Write every record, in seq order, one canonical JSON object per line.",
    )
    export.add_argument("--out", type=Path, required=True, metavar="FILE.jsonl")
    export.set_defaults(func=cmd_export)


def _datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None


def _db(args: argparse.Namespace) -> Path:
    value = getattr(args, "audit_db", None)
    if not value:
        raise InputError(
            f"no audit store: pass --audit-db PATH or set {AUDIT_DB_ENV}", field="--audit-db"
        )
    return Path(value)


def _fail(exc: GateError, err: TextIO) -> int:
    print(f"error: {exc.diagnostics()}", file=err)
    return EXIT_UNREADABLE


def cmd_verify(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """0 intact, 1 broken (first bad seq and why), 2 unreadable."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        anchor = parse_anchor(args.expect_head) if args.expect_head is not None else None
        result = (
            verify_jsonl(args.jsonl, anchor)
            if args.jsonl is not None
            else verify_path(_db(args), anchor)
        )
    except GateError as exc:
        return _fail(exc, err)
    target = str(args.jsonl) if args.jsonl is not None else str(_db(args))
    if args.output == "json":
        print(canonical_json({"target": target, **result.model_dump(mode="json")}), file=out)
    elif result.ok:
        head = f"head seq {result.head_seq} hash {result.head_hash}" if result.head_seq else "empty"
        print(f"audit chain intact: {result.checked} records, {head} ({target})", file=out)
    elif not result.readable:
        print(f"audit store unreadable: {result.reason}", file=err)
    else:
        print(
            f"audit chain BROKEN at seq {result.first_bad_seq}: {result.reason} "
            f"({result.checked} records verified before it; {target})",
            file=out,
        )
    if result.ok:
        return EXIT_OK
    return EXIT_BROKEN if result.readable else EXIT_UNREADABLE


def _query(args: argparse.Namespace, limit: int) -> AuditQuery:
    dry = None if args.dry_run is None else args.dry_run == "yes"
    try:
        return AuditQuery(
            since=args.since,
            until=args.until,
            scenario=args.scenario,
            decision=args.decision,
            source=args.source,
            env=args.env,
            subject=args.subject,
            request_id=args.request_id,
            dry_run=dry,
            limit=limit,
        )
    except ValueError as exc:
        raise InputError(f"invalid filter: {exc}", field="tail") from None


def _printable(text: str) -> str:
    """Text output goes to a terminal: escape control characters a request could smuggle in."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _line(record: AuditRecord, output: str) -> str:
    if output == "json":  # ASCII-only JSON: control characters are already escaped
        return canonical_json(record.model_dump(mode="json"))
    subject = " ".join(f"{k}={v}" for k, v in sorted(record.subject.items()))
    policies = ",".join(dict.fromkeys(r.policy for r in record.reasons)) or "-"
    dry = " dry-run" if record.dry_run else ""
    return _printable(
        f"{record.seq:>8} {record.ts} {record.decision:<5} {record.scenario} {record.source:<9} "
        f"{record.request_id} {subject} [{policies}]{dry}"
    )


def cmd_tail(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Newest `-n` records matching the filters (printed oldest..newest, like tail)."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        if not 1 <= args.lines <= MAX_QUERY_LIMIT:
            raise InputError(f"-n must be 1..{MAX_QUERY_LIMIT} (got {args.lines})", field="-n")
        path = _db(args)
        if not path.is_file():
            raise AuditReadError("no audit store at this path", file=str(path))
        store = AuditStore(path)
        page = store.query(_query(args, args.lines))
        for record in reversed(page.records):
            print(_line(record, args.output), file=out, flush=True)
        if args.follow:
            last = page.records[0].seq if page.records else 0
            _follow(store, args, last, out)
    except GateError as exc:
        return _fail(exc, err)
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def _follow(store: AuditStore, args: argparse.Namespace, last: int, out: TextIO) -> None:
    """Poll for records newer than `last` (read-only); bounded by --follow-for when given."""
    deadline = None if args.follow_for is None else time.monotonic() + args.follow_for
    while deadline is None or time.monotonic() < deadline:
        pause = _FOLLOW_POLL_S
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - time.monotonic()))
        time.sleep(pause)
        newer: list[AuditRecord] = []
        query = _query(args, MAX_QUERY_LIMIT)
        while True:  # page back until we reach what was already printed
            page = store.query(query)
            newer += [r for r in page.records if r.seq > last]
            if page.next_cursor is None or (page.records and page.records[-1].seq <= last):
                break
            query = query.model_copy(update={"cursor": page.next_cursor})
        for record in reversed(newer):
            print(_line(record, args.output), file=out, flush=True)
        if newer:
            last = newer[0].seq


def cmd_export(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Export the chain; prints the count and the head to check the archive against."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        count = export_jsonl(_db(args), args.out)
    except GateError as exc:
        return _fail(exc, err)
    except Exception as exc:
        print(f"error: export failed: {exc}", file=err)
        return EXIT_UNREADABLE
    summary = {"exported": count, "out": str(args.out)}
    print(
        json.dumps(summary) if args.output == "json" else f"exported {count} records to {args.out}",
        file=out,
    )
    return EXIT_OK
