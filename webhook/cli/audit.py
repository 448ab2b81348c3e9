"""`migration-gate audit verify | tail | export | migrate`: reading and moving the audit trail.

Every command finds the store by the CLI's one rule (`webhook.cli.store`): `--audit-db`, else
`MIGRATION_GATE_AUDIT_DB`, else the server's default `<state dir>/audit.db`. None creates a store.
`tail` shows the newest N matching records, printed oldest first (like `tail`), so `--follow`
continues at the bottom. Exit codes: verify 0 intact / 1 broken chain / 2 unreadable store or
usage; tail, export and migrate 0 ok / 2 unreadable store, refused or usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from webhook.cli.options import (
    EXIT_BLOCK,
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    Parser,
    add_audit_db,
    add_output,
)
from webhook.cli.store import NO_STORE, choose, exists, open_existing
from webhook.errors import GateError, InputError, UsageError

if TYPE_CHECKING:
    from webhook.audit import AuditQuery, AuditRecord, AuditStore

EXIT_BROKEN, EXIT_UNREADABLE = EXIT_BLOCK, EXIT_USAGE
_FOLLOW_POLL_S = 1.0


def register(commands: Commands, common: argparse.ArgumentParser | None = None) -> None:
    """Add `audit ...` under `commands`.

    `common` is accepted for callers of the former `webhook.audit.cli.register` and not used:
    the audit commands define every option they read (an inherited `--policy` would be noise).
    """
    del common
    audit = commands.add_parser(
        "audit",
        help="verify, read and export the audit trail",
        description="Verify, read and export the append-only, hash-chained audit trail.",
    )
    sub: Commands
    if isinstance(audit, Parser):
        sub = audit.add_commands(dest="audit_command", metavar="ACTION", title="actions")
    else:  # embedded in a plain argparse tree
        sub = audit.add_subparsers(
            dest="audit_command", metavar="ACTION", title="actions", required=True,
            parser_class=Parser,
        )  # fmt: skip

    def leaf(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=description,
            allow_abbrev=False,
        )
        add_audit_db(p, "audit store to read")
        add_output(p)
        return p

    verify = leaf(
        "verify",
        "walk the hash chain; exit 0 intact, 1 broken, 2 unreadable",
        "Recompute every record's hash in seq order and report the first break.",
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

    tail = leaf(
        "tail",
        "the newest N records, printed oldest first (like tail); filters",
        "Show the newest N records that match the filters, printed oldest first, so the newest "
        "is the last line; --follow keeps printing new ones below it.",
    )
    tail.add_argument("-n", "--lines", type=int, default=20, help="how many records (default: 20)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    tail.add_argument(
        "--follow-for",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with --follow: stop after this long (default: until interrupted)",
    )
    tail.add_argument(
        "--since", type=_datetime, default=None, metavar="TIME", help="RFC 3339 (inclusive)"
    )
    tail.add_argument(
        "--until", type=_datetime, default=None, metavar="TIME", help="RFC 3339 (exclusive)"
    )
    tail.add_argument("--scenario", choices=("T1", "T2"), default=None, help="only this scenario")
    tail.add_argument("--decision", choices=("ALLOW", "BLOCK"), default=None, help="only these")
    tail.add_argument(
        "--source",
        choices=("admission", "api", "ui", "cli"),
        default=None,
        help="only decisions made through this door",
    )
    tail.add_argument("--env", default=None, help="only this environment, e.g. prod")
    tail.add_argument("--subject", default=None, help="exact app_id, source_db or target_db")
    tail.add_argument("--request-id", default=None, help="the record of one request")
    tail.add_argument(
        "--dry-run", choices=("yes", "no"), default=None, help="only dry-run (or only real) ones"
    )
    tail.set_defaults(func=cmd_tail)

    export = leaf(
        "export",
        "write the whole chain to a JSONL file for archiving",
        "Write every record, in seq order, one canonical JSON object per line.",
    )
    export.add_argument(
        "--out", type=Path, required=True, metavar="FILE.jsonl", help="file to write"
    )
    export.set_defaults(func=cmd_export)

    migrate = sub.add_parser(
        "migrate",
        help="copy the whole chain to another, empty store and verify it there",
        description="Copy every record (seq, times and hashes as they are) and the current "
        "alerts from one store to an empty one, e.g. SQLite to PostgreSQL. The source must "
        "verify first, the copy is all or nothing, and the destination must verify to the "
        "source's head afterwards.",
        allow_abbrev=False,
    )
    migrate.add_argument(
        "--from", dest="source", required=True, metavar="PATH|URL", help="the store to copy"
    )
    migrate.add_argument(
        "--to", dest="destination", required=True, metavar="PATH|URL",
        help="an empty store (created if it does not exist)",
    )  # fmt: skip
    add_output(migrate)
    migrate.set_defaults(func=cmd_migrate)


def _datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from None


def _location(args: argparse.Namespace) -> str:
    return choose(getattr(args, "audit_db", None) and str(args.audit_db)).location


def _fail(exc: GateError, err: TextIO) -> int:
    print(f"migration-gate: error: {exc.diagnostics()}", file=err)
    return EXIT_UNREADABLE


def cmd_verify(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """0 intact, 1 broken (first bad seq and why), 2 unreadable."""
    from webhook.audit.chain import parse_anchor, verify_jsonl  # noqa: PLC0415
    from webhook.audit.store import verify_path  # noqa: PLC0415

    out, err = out or sys.stdout, err or sys.stderr
    target = str(args.jsonl) if args.jsonl is not None else _location(args)
    try:
        anchor = parse_anchor(args.expect_head) if args.expect_head is not None else None
        if args.jsonl is not None:
            result = verify_jsonl(args.jsonl, anchor)
        else:
            if not exists(target):
                raise UsageError(NO_STORE, file=target)
            result = verify_path(target, anchor)
    except GateError as exc:
        return _fail(exc, err)
    if args.output == "json":
        from webhook.audit.canonical import canonical_json  # noqa: PLC0415

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
    from webhook.audit import AuditQuery  # noqa: PLC0415

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
        from webhook.audit.canonical import canonical_json  # noqa: PLC0415

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
    """The newest `-n` records matching the filters, printed oldest first (like tail)."""
    from webhook.audit.models import MAX_QUERY_LIMIT  # noqa: PLC0415

    out, err = out or sys.stdout, err or sys.stderr
    try:
        if not 1 <= args.lines <= MAX_QUERY_LIMIT:
            raise InputError(f"-n must be 1..{MAX_QUERY_LIMIT} (got {args.lines})", field="-n")
        location = _location(args)
        store = open_existing(location)
        page = store.query(_query(args, args.lines))
        for record in reversed(page.records):
            print(_line(record, args.output), file=out, flush=True)
        if not page.records:
            print(f"no audit records match ({location})", file=err, flush=True)
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
    from webhook.audit.models import MAX_QUERY_LIMIT  # noqa: PLC0415

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
    from webhook.audit.export import export_jsonl  # noqa: PLC0415

    out, err = out or sys.stdout, err or sys.stderr
    location = _location(args)
    try:
        if not exists(location):
            raise UsageError(NO_STORE, file=location)
        count = export_jsonl(location, args.out)
    except GateError as exc:
        return _fail(exc, err)
    except Exception as exc:
        print(f"migration-gate: error: export failed: {exc}", file=err)
        return EXIT_UNREADABLE
    summary = {"exported": count, "out": str(args.out)}
    print(
        json.dumps(summary) if args.output == "json" else f"exported {count} records to {args.out}",
        file=out,
    )
    return EXIT_OK


def cmd_migrate(
    args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """0 copied and verified at the destination; 2 refused or failed (nothing half-copied)."""
    from webhook.audit.migrate import migrate  # noqa: PLC0415

    out, err = out or sys.stdout, err or sys.stderr
    try:
        if not exists(args.source):
            raise UsageError(NO_STORE, file=args.source)
        report = migrate(args.source, args.destination)
    except GateError as exc:
        return _fail(exc, err)
    if args.output == "json":
        print(json.dumps(dataclasses.asdict(report), sort_keys=True), file=out)
    else:
        print(
            f"migrated {report.records} records and {report.alerts} alerts from "
            f"{report.source} to {report.destination}; both verify to head seq "
            f"{report.head_seq} hash {report.head_hash}",
            file=out,
        )
    return EXIT_OK
