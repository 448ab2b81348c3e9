"""Streaming tar.gz inspection: one pass, nothing extracted, every hostile trick reported.

One module per job: `inflate` (gzip -> bytes, bomb guards), `tar` (the ustar/pax/GNU parser),
`worker` (hashing on a helper thread), `members` (paths, identity, links), `sums` (SHA256SUMS)
and `recipe` (`inspect_targz`: the pass that ties them together under the limits). Callers use
what is exported here.
"""

from webhook.integrity.archive.inflate import GZIP_BACKEND, gzip_decompressor
from webhook.integrity.archive.model import (
    ArchiveCheck,
    ArchiveFinding,
    ArchiveLimits,
    ArchiveReport,
    GiB,
    KiB,
    MiB,
)
from webhook.integrity.archive.recipe import inspect_targz
from webhook.integrity.archive.sums import SUMS_NAME

__all__ = [
    "GZIP_BACKEND",
    "SUMS_NAME",
    "ArchiveCheck",
    "ArchiveFinding",
    "ArchiveLimits",
    "ArchiveReport",
    "GiB",
    "KiB",
    "MiB",
    "gzip_decompressor",
    "inspect_targz",
]
