"""Files opened beneath a trusted root without ever following a symlink, then read by descriptor.

Checking a path (`resolve()`, `is_file()`) and opening it later is a race: between the two, a
component can become a symlink to anywhere. Here the root is opened once (the operator's own
path, trusted), every further component with `openat(dir_fd, name, O_NOFOLLOW)`, so a symlink
anywhere below the root fails the open itself; the file is then `fstat`ed (regular, size) and
every reader reads that descriptor. What was checked is what is hashed.

`PinnedFile` holds its descriptor (one per snapshot). `BeneathFile` holds only its directory's
descriptor and opens the name (O_NOFOLLOW, fstat) each time it is read, so a thousand WAL
segments cost one descriptor, not a thousand.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
#: O_NONBLOCK: opening a FIFO must not hang the decision; fstat then refuses it
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY


class UnsafePath(Exception):
    """A path below the root that is refused: the message says which component and why."""


class PinnedSource(Protocol):
    """What the hashers read instead of a path: a name for messages, a reader, an identity."""

    @property
    def name(self) -> str: ...
    def reader(self) -> io.RawIOBase: ...
    def identity(self) -> str: ...


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _why(dir_fd: int, name: str, shown: str) -> str:
    """Why `openat(dir_fd, name, O_NOFOLLOW)` failed, read without following anything."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return f"{shown!r} does not exist"
    except OSError as exc:
        return f"{shown!r} cannot be read ({exc.strerror or exc})"
    if stat.S_ISLNK(st.st_mode):
        return f"{shown!r} is a symlink (symlinks are never followed below the root)"
    if not stat.S_ISDIR(st.st_mode):
        return f"{shown!r} is not a directory"
    return f"{shown!r} cannot be opened"


class PinnedDir:
    """A directory descriptor reached from the root without symlinks; closed when dropped."""

    def __init__(self, fd: int, rel: str, root: str) -> None:
        self.fd = fd
        #: the path below the root (what messages name) and the root as configured
        self.rel = rel
        self.root = root
        self._closer = weakref.finalize(self, _close_quietly, fd)

    def close(self) -> None:
        self._closer()

    def _shown(self, child: str) -> str:
        return f"{self.rel}/{child}" if self.rel else child

    def full(self, child: str) -> str:
        """The whole path of `child`, for identities and reports (never reopened by it)."""
        return f"{self.root.rstrip('/')}/{self._shown(child)}"

    def subdir(self, name: str) -> PinnedDir:
        _check_component(name, self._shown(name))
        try:
            fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=self.fd)
        except OSError:
            raise UnsafePath(_why(self.fd, name, self._shown(name))) from None
        return PinnedDir(fd, self._shown(name), self.root)

    def open(self, name: str, *, max_bytes: int | None = None) -> PinnedFile:
        """Open a regular file in this directory now and hold it (size checked by fstat)."""
        fd = _open_regular(self.fd, name, self._shown(name), max_bytes)
        return PinnedFile(fd, self.full(name), parent=self)

    def child(self, name: str) -> BeneathFile:
        """A file in this directory, opened (O_NOFOLLOW, fstat) each time it is read."""
        _check_component(name, self._shown(name))
        return BeneathFile(self, name)

    def regular_files(self, limit: int) -> list[str]:
        """Names of regular files (never symlinks) in this directory, sorted, at most `limit`+1."""
        names: list[str] = []
        with os.scandir(self.fd) as it:
            for entry in it:
                if entry.is_file(follow_symlinks=False):
                    names.append(entry.name)
                    if len(names) > limit:
                        break
        return sorted(names)


def _check_component(name: str, shown: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UnsafePath(f"{shown!r}: {name!r} is not a plain name below the root")


def _open_regular(dir_fd: int, name: str, shown: str, max_bytes: int | None) -> int:
    _check_component(name, shown)
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise UnsafePath(
                f"{shown!r} is a symlink (symlinks are never followed below the root)"
            ) from None
        if isinstance(exc, FileNotFoundError):
            raise UnsafePath(f"{shown!r} does not exist") from None
        raise UnsafePath(f"{shown!r} cannot be opened ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{shown!r} is not a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise UnsafePath(f"{shown!r} is {st.st_size} bytes, over the limit of {max_bytes}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _identity(name: str, st: os.stat_result) -> str:
    return f"{name}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_dev}"


class _PReader(io.RawIOBase):
    """Reads a descriptor from offset 0 with pread: readers never share a file offset."""

    def __init__(self, fd: int, *, owned: bool) -> None:
        super().__init__()
        self._fd = fd
        self._pos = 0
        self._owned = owned

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = os.preadv(self._fd, [buffer], self._pos)
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed and self._owned:
            os.close(self._fd)
        super().close()


class PinnedFile:
    """A regular file held open; `reader()` and `identity()` come from the descriptor."""

    def __init__(self, fd: int, name: str, *, parent: PinnedDir | None = None) -> None:
        self.fd = fd
        self._name = name
        self.parent = parent
        st = os.fstat(fd)
        self.size = st.st_size
        self._identity = _identity(name, st)
        self._closer = weakref.finalize(self, _close_quietly, fd)

    @property
    def name(self) -> str:
        return self._name

    def reader(self) -> io.RawIOBase:
        return _PReader(self.fd, owned=False)

    def identity(self) -> str:
        return self._identity

    def close(self) -> None:
        self._closer()

    def __repr__(self) -> str:
        return f"PinnedFile({self._name!r})"


class BeneathFile:
    """A name in a pinned directory, opened without following symlinks each time it is read."""

    def __init__(self, parent: PinnedDir, name: str) -> None:
        self.parent = parent
        self._entry = name

    @property
    def name(self) -> str:
        return self.parent.full(self._entry)

    def reader(self) -> io.RawIOBase:
        """Raises OSError (with the reason) if the name is now a symlink or not a regular file."""
        try:
            fd = _open_regular(self.parent.fd, self._entry, self.parent._shown(self._entry), None)
        except UnsafePath as exc:
            raise OSError(errno.EPERM, str(exc)) from None
        return _PReader(fd, owned=True)

    def identity(self) -> str:
        st = os.stat(self._entry, dir_fd=self.parent.fd, follow_symlinks=False)
        return _identity(self.name, st)

    def __repr__(self) -> str:
        return f"BeneathFile({self.name!r})"


def open_dir_beneath(root: Path, parts: Sequence[str]) -> PinnedDir:
    """The directory `root/parts...`, every component opened with O_NOFOLLOW from the root.

    `root` itself is opened as configured (the operator's path: symlinks in it are trusted).
    """
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError as exc:
        raise UnsafePath(f"the root cannot be opened ({exc.strerror or exc})") from None
    here = PinnedDir(fd, "", str(root))
    for part in parts:
        here = here.subdir(part)
    return here


def open_beneath(root: Path, parts: Sequence[str], *, max_bytes: int | None = None) -> PinnedFile:
    """The regular file `root/parts...` opened and held, with no symlink followed below `root`."""
    if not parts:
        raise UnsafePath("the path names the root itself, not a file below it")
    parent = open_dir_beneath(root, parts[:-1])
    return parent.open(parts[-1], max_bytes=max_bytes)
