"""What an inspection reports: reason ids, limits, findings, the report, and the fatal stop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

ArchiveCheck = Literal[
    "archive-invalid",
    "archive-path-traversal",
    "archive-link-escape",
    "archive-special-member",
    "archive-bomb",
    "archive-checksum-mismatch",
    "archive-member-reused",
]

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds for one archive. The ratio guard only starts after 1 MiB has been inflated."""

    max_members: int = 100_000
    max_expanded_bytes: int = 64 * GiB
    max_ratio: int = 1000
    max_member_name: int = 4096
    #: all member names together: every name is kept (digests, identities) until the end, so
    #: 100k names of 4 KiB would hold over a GiB for a snapshot of a few hundred KiB
    max_name_bytes: int = 32 * MiB
    #: findings kept in the report; a hostile archive could otherwise make millions
    max_findings: int = 1000


@dataclass(frozen=True)
class ArchiveFinding:
    """One problem: `check` is the reason id, `member` the archive path ('' for the stream)."""

    check: ArchiveCheck
    member: str
    message: str


@dataclass(frozen=True)
class ArchiveReport:
    """What one pass over a tar.gz found. `file_digests` cover the whole compressed file."""

    file_digests: dict[str, str]
    members: int
    expanded_bytes: int
    sums_checked: int
    findings: tuple[ArchiveFinding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings


class Fatal(Exception):
    """The stream cannot be parsed further; carries the finding that says why."""

    def __init__(self, check: ArchiveCheck, member: str, message: str) -> None:
        super().__init__(message)
        self.finding = ArchiveFinding(check, member, message)
