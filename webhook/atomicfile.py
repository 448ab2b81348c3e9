"""Replace a file atomically without ever following a name someone else could plant.

A predictable temp name (`.out.<pid>.tmp`) opened with O_CREAT|O_TRUNC follows a symlink planted
there, so the writer truncates and fills a file of the attacker's choosing, and the rename then
moves the symlink into place. `tempfile.mkstemp` creates an unpredictable name with
O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, in the target's own directory so the rename stays on one
filesystem; the data is fsynced before the rename and the directory after it, so a crash leaves
the old file or the new one, never half of either.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_writer(path: Path, *, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces `path` with `mode` when the block ends without error.

    The temp file is 0600 from its first byte; `mode` is applied to the descriptor (umask does
    not widen or narrow it) just before the rename. On any error the temp file is removed and
    `path` is left untouched.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """`atomic_writer` for data already in memory."""
    with atomic_writer(path, mode=mode) as fh:
        fh.write(data)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; a filesystem that cannot fsync a directory is not an error."""
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(dfd)
    finally:
        os.close(dfd)
