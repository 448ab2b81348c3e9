"""The inspection: one pass over a tar.gz that ties the parts together under the limits.

The file is read once in 1 MiB chunks. Each chunk feeds the whole-file hashers and the inflater
(`inflate`); the inflated bytes feed the tar parser (`tar`), which hands each member here. Here
each member is counted and bounded, named and claimed (`members`), and a regular member's data
goes to a SHA-256 (on the helper thread of `worker` when it is large), SHA256SUMS to a buffer for
`sums`. Per member only a hash object is kept, so memory does not grow with member size.

Findings are collected, not raised, so an operator sees every problem at once. A finding that
desynchronises the stream (bad gzip, bad header checksum, bomb) ends parsing; the rest of the file
is still hashed so the caller can compare the whole-file digest.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Final, cast

from webhook.errors import DeadlineExceeded, InputError
from webhook.integrity.archive.inflate import Inflater
from webhook.integrity.archive.members import KINDS, MemberNames
from webhook.integrity.archive.model import (
    ArchiveFinding,
    ArchiveLimits,
    ArchiveReport,
    Fatal,
    KiB,
)
from webhook.integrity.archive.sums import MAX_SUMS, SUMS_NAME, check_sums
from webhook.integrity.archive.tar import OnEnd, Sink, TarMember, TarParser
from webhook.integrity.archive.worker import HashWorker, prime_heap, usable_cpus
from webhook.integrity.hashing import CHUNK, MultiHasher
from webhook.integrity.pinned import BeneathFile, PinnedFile, PinnedSource

#: members at least this big are hashed on the worker thread
OFFLOAD_MIN: Final = 256 * KiB
DEFAULT_LIMITS: Final = ArchiveLimits()
_SPECIAL: Final = {b"3": "character device", b"4": "block device", b"6": "FIFO"}
_Data = tuple[Sink | None, OnEnd | None]


class _Members:
    """What happens to each member the parser finds: limits, names, and where its data goes."""

    def __init__(self, limits: ArchiveLimits, names: MemberNames, worker: HashWorker) -> None:
        self.limits = limits
        self.names = names
        self._worker = worker
        self.count = 0
        self._name_bytes = 0
        self.digests: dict[str, bytes] = {}
        self.sums: bytes | None = None

    def __call__(self, m: TarMember) -> _Data:
        name, kind, size = m.name, m.kind, m.size
        self.count += 1
        if self.count > self.limits.max_members:
            raise Fatal("archive-bomb", name, f"more than {self.limits.max_members} members")
        if size > self.limits.max_expanded_bytes:
            raise Fatal(
                "archive-bomb",
                name,
                f"member claims {size} bytes, over the "
                f"{self.limits.max_expanded_bytes}-byte expansion limit",
            )
        self._name_bytes += len(m.raw_name) + len(m.raw_link)
        if self._name_bytes > self.limits.max_name_bytes:
            raise Fatal(
                "archive-bomb",
                name,
                f"member names and link targets exceed {self.limits.max_name_bytes} bytes",
            )
        if kind == b"S":
            raise Fatal("archive-invalid", name, "GNU sparse members are not supported")
        names = self.names
        path, key = names.check_name(m.raw_name, name)
        if m.sparse:
            names.finding("archive-invalid", name, "sparse members are not supported")
        names.claim(key, name, KINDS.get(kind, f"member of type {kind!r}"))
        if kind in (b"0", b"\0", b"7"):
            return self._regular(path, name, size)
        if kind == b"1":
            names.link(path, key, name, m.raw_link, symlink=False)
        elif kind == b"2":
            names.link(path, key, name, m.raw_link, symlink=True)
        elif kind in _SPECIAL:
            names.finding("archive-special-member", name, f"{_SPECIAL[kind]} member")
        elif kind != b"5":
            names.finding("archive-special-member", name, f"unsupported member type {kind!r}")
        return None, None

    def _regular(self, path: str, name: str, size: int) -> _Data:
        if path == SUMS_NAME:
            if size > MAX_SUMS:
                self.names.finding(
                    "archive-checksum-mismatch",
                    name,
                    f"{SUMS_NAME} is {size} bytes, over the {MAX_SUMS}-byte limit",
                )
                return None, None
            buf = bytearray()

            def sums_done() -> None:
                if self.sums is None:  # a second copy is already an archive-member-reused
                    self.sums = bytes(buf)

            return buf.extend, sums_done
        hasher = hashlib.sha256()
        digests = self.digests
        digests[path] = b""  # placeholder until the digest is final
        if size < OFFLOAD_MIN:

            def done() -> None:
                digests[path] = hasher.digest()

            return hasher.update, done
        # large member: hashed on the worker thread, in order, digest stored when done there
        worker = self._worker

        def sink(data: memoryview) -> None:
            worker.add(hasher.update, data, len(data))

        def finalize(_: object) -> None:
            digests[path] = hasher.digest()

        return sink, lambda: worker.add(finalize, None)


def _open(source: Path | BinaryIO | PinnedSource, name: str) -> tuple[BinaryIO, bool]:
    """(file, whether we own it and must close it)."""
    try:
        if isinstance(source, Path):
            return source.open("rb", buffering=0), True
        if isinstance(source, (PinnedFile, BeneathFile)):
            return cast("BinaryIO", source.reader()), True
    except OSError as exc:
        raise InputError(f"cannot open archive: {exc.strerror or exc}", file=name) from None
    return cast("BinaryIO", source), False


def inspect_targz(
    source: Path | BinaryIO | PinnedSource,
    *,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    file_algorithms: Iterable[str] = ("sha256",),
    file: str | None = None,
    deadline: float | None = None,
) -> ArchiveReport:
    """Inspect a tar.gz in one streaming pass; see the module docstring.

    `file` names the archive in errors (default: the path's name). Raises InputError if the
    source cannot be read, DeadlineExceeded past `deadline` (a `time.monotonic()` value);
    everything wrong with the *content* is a finding in the report.
    """
    named = isinstance(source, (Path, PinnedFile, BeneathFile))
    name = file if file is not None else (source.name if named else "archive")
    hashers = MultiHasher(file_algorithms)
    findings: list[ArchiveFinding] = []
    suppressed: list[ArchiveFinding] = []

    def report(f: ArchiveFinding) -> None:
        (findings if len(findings) < limits.max_findings else suppressed).append(f)

    fh, owned = _open(source, name)
    prime_heap()
    worker = HashWorker(threaded=usable_cpus() > 1)
    names = MemberNames(max_name=limits.max_member_name, report=report)
    members = _Members(limits, names, worker)
    parser = TarParser(members, max_name=limits.max_member_name)
    inflater = Inflater(limits, parser.feed)
    try:
        fatal = _pump(
            fh, name, hashers=hashers, inflater=inflater, worker=worker, deadline=deadline
        )
    finally:
        worker.close()
        if owned:
            fh.close()
    fatal = _finish(inflater, parser, names, fatal, report)
    sums_checked = 0
    if fatal is None and members.sums is not None:
        sums_checked = check_sums(members.sums, members.digests, names.hardlinks, report)
    if suppressed:
        findings.append(
            ArchiveFinding(suppressed[0].check, "", f"{len(suppressed)} more findings not shown")
        )
    return ArchiveReport(
        file_digests=hashers.hexdigests(),
        members=members.count,
        expanded_bytes=inflater.expanded,
        sums_checked=sums_checked,
        findings=tuple(findings),
    )


def _pump(
    fh: BinaryIO,
    name: str,
    *,
    hashers: MultiHasher,
    inflater: Inflater,
    worker: HashWorker,
    deadline: float | None,
) -> Fatal | None:
    """Read the archive to its end: every byte hashed, inflated and parsed until a fatal finding.

    After a fatal finding the rest is still read and hashed (the file's digest covers it all).
    """
    fatal: Fatal | None = None
    while True:
        try:
            chunk = fh.read(CHUNK)
        except OSError as exc:
            raise InputError(f"cannot read archive: {exc.strerror or exc}", file=name) from None
        if not chunk:
            return fatal
        worker.add(hashers.update, chunk, len(chunk))
        if fatal is None:
            try:
                inflater.feed(chunk)
            except Fatal as exc:
                fatal = exc
        worker.flush()
        if deadline is not None and time.monotonic() > deadline:
            raise DeadlineExceeded("deadline passed while inspecting the archive", file=name)


def _finish(
    inflater: Inflater,
    parser: TarParser,
    names: MemberNames,
    fatal: Fatal | None,
    report: Callable[[ArchiveFinding], None],
) -> Fatal | None:
    """End of stream: the gzip/tar trailers, then the links and the tree; the first fatal."""
    if fatal is None:
        try:
            inflater.finish()
            parser.finish()
        except Fatal as exc:
            fatal = exc
    if fatal is not None:
        report(fatal.finding)
    if not names.exhausted:  # else already reported: resolving links would only stop again
        try:
            names.check_links()
            names.check_tree()
        except Fatal as exc:  # the symlink-resolution budget ran out
            report(exc.finding)
            fatal = fatal or exc
    return fatal
