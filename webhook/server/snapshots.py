"""`file://` snapshot URIs -> files opened beneath the snapshot root, never through a symlink.

The URI's path is matched against the configured root lexically, then opened from a descriptor
of the root component by component with O_NOFOLLOW (`webhook.integrity.pinned`); the snapshot
is fstat'ed (regular file, size) and the engine hashes that very descriptor, so nothing can be
swapped between the check and the read. WAL segments beside it are opened the same way, from
the descriptor of their directory, each time they are read.

Two outcomes besides a file. *Not applicable* (another scheme, a host, no root configured, a
path outside the root, larger than admission hashes): a `snapshot-not-hashed` note, and the
attestation alone is the proof, as docs/artifacts.md says. *Refused* (a symlink anywhere below
the root, `..`, not a regular file, unreadable, not a string): the uri names something under
the gate's own root that the gate will not read, and that BLOCKs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from webhook.integrity.pinned import BeneathFile, PinnedFile, UnsafePath, open_beneath
from webhook.pipelines.inputs import WAL_DIR


@dataclass(frozen=True, slots=True)
class Opened:
    """`file` when the snapshot may be hashed; else `why` not, and whether that BLOCKs."""

    file: PinnedFile | None
    why: str | None = None
    refused: bool = False


def _below_root(path: str, root: Path) -> list[str] | None:
    """The components of `path` below `root` (as configured or resolved), None if not below."""
    comps = [c for c in path.split("/") if c not in ("", ".")]
    for candidate in dict.fromkeys((Path(os.path.abspath(root)), root.resolve())):
        prefix = list(candidate.parts[1:])
        if comps[: len(prefix)] == prefix:
            return comps[len(prefix) :]
    return None


def open_snapshot(uri: object, root: Path | None, max_bytes: int) -> Opened:
    """Open the snapshot a `file://` uri names below `root`, or say why not (module docstring)."""
    if uri is None:
        return Opened(None, "the snapshot uri is missing (give a file:// URI)", refused=True)
    if not isinstance(uri, str):
        return Opened(
            None, f"the snapshot uri must be a string, not {type(uri).__name__}", refused=True
        )
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return Opened(
            None, f"only file:// URIs are hashed at admission (found {parts.scheme or 'none'}://)"
        )
    if parts.netloc not in ("", "localhost"):
        return Opened(None, "file:// URI must not name a host")
    if root is None:
        return Opened(None, "no snapshot root is configured (--snapshot-root)")
    path = unquote(parts.path)
    if ".." in path.split("/"):
        return Opened(None, "a '..' component in the snapshot path is refused", refused=True)
    rel = _below_root(path, root)
    if rel is None:
        return Opened(None, "snapshot is not under the snapshot root")
    try:
        # no size limit here: over the limit is "not hashed here", not a refusal (below)
        file = open_beneath(root, rel)
    except UnsafePath as exc:
        return Opened(None, f"snapshot refused below the snapshot root: {exc}", refused=True)
    if file.size > max_bytes:
        file.close()
        return Opened(
            None,
            f"snapshot is {file.size} bytes, over the admission hashing limit of {max_bytes}",
        )
    return Opened(file)


def sibling_wal_files(snapshot: PinnedFile, limit: int) -> dict[str, BeneathFile] | None:
    """WAL segments in `wal_files/` beside a pinned snapshot; None if more than `limit`.

    Only regular files (never symlinks) directly in that directory, which is itself reached
    without a symlink; each is opened O_NOFOLLOW again when the engine reads it.
    """
    if snapshot.parent is None:
        return {}
    try:
        wal_dir = snapshot.parent.subdir(WAL_DIR)
    except UnsafePath:
        return {}  # no such directory (or a symlink): the engine reports every WAL it misses
    names = wal_dir.regular_files(limit)
    if len(names) > limit:
        return None
    return {name: wal_dir.child(name) for name in names}
