"""Member names: where each member would land, and whether two members land on one path.

Paths are taken as an extractor writes them (`./`, empty and `.` components and a trailing slash
dropped); their identity is also folded (`fold`) and has parent symlinks of the archive resolved,
so `./a`, `a/`, `A` and `link/a` (with `link -> .`) are one path. Any second member on a claimed
path, whatever the types, is `archive-member-reused`: SHA256SUMS and the link checks would
otherwise vouch for a member other than the one left on disk. Links are resolved from the root,
following archive symlinks with a hop bound, to find the ones that leave it.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final

from webhook.integrity.archive.model import ArchiveCheck, ArchiveFinding, Fatal
from webhook.integrity.archive.tar import decode

_MAX_SYMLINK_HOPS: Final = 40
#: path components walked resolving symlinks, for the whole archive: a 4 KiB target expanded
#: under every member would otherwise cost minutes of CPU (held GIL) for one snapshot
MAX_RESOLVE_STEPS: Final = 2_000_000
_DRIVE = re.compile(r"[A-Za-z]:")
#: what each tar type flag extracts as, for identity messages
KINDS: Final = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "character device",
    b"4": "block device",
    b"5": "directory",
    b"6": "FIFO",
}


def fold(path: str) -> str:
    """The identity of a path on any filesystem an extractor may write to.

    Case-insensitive (macOS, Windows) and normalisation-insensitive (APFS, HFS+) filesystems
    make `Data/x` and `data/x`, or NFC and NFD spellings of one name, the same file; the gate
    does not know where a snapshot is restored, so it takes the widest notion of "same name".
    """
    if path.isascii():
        return path.lower()
    return unicodedata.normalize("NFC", path).casefold()


def unsafe_path(raw: bytes, name: str) -> str | None:
    """Why a member path could land outside the extraction root, or None."""
    if name.startswith("/"):
        return "absolute path"
    if b"\\" in raw:
        return "backslash in member name (a path separator on Windows)"
    if _DRIVE.match(name):
        return "Windows drive-letter path"
    if ".." in name.split("/"):
        return "'..' path component"
    return None


_Node = list[Any]  # [children: dict[str, _Node], target: tuple[str, ...] | None, escapes: bool]


class MemberNames:
    """Every member's path and identity, its links, and the findings they make."""

    def __init__(self, *, max_name: int, report: Callable[[ArchiveFinding], None]) -> None:
        self._max_name = max_name
        self._report = report
        #: member path -> the regular member it is a hardlink of (chains resolved)
        self.hardlinks: dict[str, str] = {}
        #: symlinks as a trie of folded components: node = [children, target components or
        #: None, escapes (absolute or backslash target)]; one dict step per path component
        self._symlinks: _Node = [{}, None, False]
        self._has_symlinks = False
        #: folded parent path -> its resolved key (None: outside); cleared by each new symlink
        self._parents: dict[str, str | None] = {}
        self._steps = 0
        #: (member, its key, target, is_symlink, hardlink target is an earlier file or hardlink)
        self._link_members: list[tuple[str, str, str, bool, bool]] = []
        #: folded, symlink-resolved path -> (kind, member name) of the member that claimed it
        self._claimed: dict[str, tuple[str, str]] = {}

    def finding(self, check: ArchiveCheck, member: str, message: str) -> None:
        self._report(ArchiveFinding(check, member, message))

    def check_name(self, raw: bytes, name: str) -> tuple[str, str]:
        """Report unsafe names; return (path, key).

        `path` is the name as an extractor writes it (`./`, empty and `.` components and a
        trailing slash dropped), used for SHA256SUMS and links; `key` is its identity: folded
        (see `fold`) and with parent symlinks of the archive resolved, so two members with one
        key land on one file.
        """
        if not raw:
            self.finding("archive-invalid", name, "member has an empty name")
        if len(raw) > self._max_name:
            self.finding(
                "archive-invalid",
                name[:200] + "...",
                f"member name is {len(raw)} bytes, over {self._max_name}",
            )
        if b"\0" in raw:
            self.finding("archive-invalid", name, "member name contains a NUL byte")
        problem = unsafe_path(raw, name)
        if problem:
            self.finding("archive-path-traversal", name, problem)
        parts = [p for p in name.split("/") if p not in ("", ".")]
        path = "/".join(parts)
        return path, self._key(path, name, report_escape=not problem)

    def _key(self, path: str, name: str, *, report_escape: bool) -> str:
        """The identity of `path`: folded, parent components resolved through archive symlinks."""
        key = fold(path)
        if not self._has_symlinks or "/" not in key:
            return key
        parent, _, last = key.rpartition("/")
        if parent in self._parents:
            real_parent = self._parents[parent]
        else:
            real = self._resolve(parent.split("/"), name)
            real_parent = None if real is None else "/".join(real)
            self._parents[parent] = real_parent
        if real_parent is None:
            if report_escape:
                self.finding(
                    "archive-link-escape",
                    name,
                    "member is written through a symlink that leads outside the archive root",
                )
            return "/" + key  # outside the root: no path inside (none starts with '/') is it
        return f"{real_parent}/{last}" if real_parent else last

    def claim(self, key: str, name: str, kind: str) -> None:
        """Report a second member on an already claimed path: only one of them is extracted.

        Whatever the types (file, symlink, hardlink, directory), SHA256SUMS and the link checks
        could otherwise vouch for a member other than the one left on disk.
        """
        earlier = self._claimed.get(key)
        if earlier is None:
            self._claimed[key] = (kind, name)
            return
        was, first = earlier
        self.finding(
            "archive-member-reused",
            name,
            f"{kind} lands on the same path as the earlier {was} {first!r}; "
            "extraction keeps only one of them",
        )

    def check_tree(self) -> None:
        """Report members written below a path that another member makes a non-directory.

        Order-independent: a file `a` with a member `a/b` cannot both be extracted, whichever
        comes first. Sorting with `/` as the lowest character puts a path's descendants right
        after it, so this is one sort, not a scan per member.
        """
        order = sorted(self._claimed, key=lambda k: k.replace("/", "\0"))
        for key, nxt in itertools.pairwise(order):
            kind, name = self._claimed[key]
            if kind == "directory" or not nxt.startswith(key + "/" if key else ""):
                continue
            child_kind, child = self._claimed[nxt]
            self.finding(
                "archive-member-reused",
                child,
                f"{child_kind} is written below {kind} {name!r}, which is not a directory: "
                "extraction keeps only one of them",
            )

    def link(self, path: str, key: str, name: str, raw_target: bytes, *, symlink: bool) -> None:
        target = decode(raw_target)
        if not raw_target:
            self.finding("archive-invalid", name, "link with an empty target")
            return
        earlier_file = False
        if symlink:
            self._add_symlink(key, target)  # where it lands, after parent symlinks
        else:
            real = "/".join(p for p in target.split("/") if p not in ("", "."))
            self.hardlinks[path] = self.hardlinks.get(real, real)
            target_key = self._key(real, name, report_escape=False)
            kind = self._claimed.get(target_key, ("", ""))[0]
            earlier_file = target_key != key and kind in ("file", "hardlink")
        self._link_members.append((path, key, target, symlink, earlier_file))

    @property
    def exhausted(self) -> bool:
        """The symlink-resolution budget ran out (an archive-bomb finding says so)."""
        return self._steps > MAX_RESOLVE_STEPS

    def _add_symlink(self, key: str, target: str) -> None:
        node = self._symlinks
        for comp in key.split("/"):
            node = node[0].setdefault(comp, [{}, None, False])
        node[1] = tuple(fold(target).split("/"))
        node[2] = target.startswith("/") or "\\" in target
        self._has_symlinks = True
        self._parents.clear()

    def _inside(self, parts: Iterable[str], member: str) -> bool:
        return self._resolve(parts, member) is not None

    def _resolve(self, parts: Iterable[str], member: str) -> list[str] | None:
        """Resolve folded path components from the root through archive symlinks (bounded).

        None when the path leaves the root (or loops); else the components it lands on. Each
        component costs one trie step; all resolutions of one archive share MAX_RESOLVE_STEPS.
        """
        stack: list[str] = []
        nodes: list[_Node | None] = []
        todo = deque(parts)
        hops = 0
        steps = self._steps
        while todo:
            steps += 1
            if steps > MAX_RESOLVE_STEPS:
                self._steps = steps
                raise Fatal(
                    "archive-bomb",
                    member,
                    f"resolving the archive's symlinks takes more than {MAX_RESOLVE_STEPS} steps",
                )
            comp = todo.popleft()
            if comp in ("", "."):
                continue
            if comp == "..":
                if not stack:
                    self._steps = steps
                    return None
                stack.pop()
                nodes.pop()
                continue
            parent = nodes[-1] if nodes else self._symlinks
            node = parent[0].get(comp) if parent is not None else None
            if node is not None and node[1] is not None:
                hops += 1
                if hops > _MAX_SYMLINK_HOPS or node[2]:
                    self._steps = steps
                    return None
                todo.extendleft(reversed(node[1]))
                continue
            stack.append(comp)
            nodes.append(node)
        self._steps = steps
        return stack

    def check_links(self) -> None:
        for path, key, target, symlink, earlier_file in self._link_members:
            kind = "symlink" if symlink else "hardlink"
            if target.startswith("/") or _DRIVE.match(target):
                self.finding("archive-link-escape", path, f"{kind} to absolute path {target!r}")
                continue
            if "\\" in target:
                self.finding(
                    "archive-link-escape", path, f"{kind} target {target!r} contains a backslash"
                )
                continue
            # symlinks resolve from the member's directory, hardlinks from the archive root
            base = key.split("/")[:-1] if symlink else []
            if not self._inside([*base, *fold(target).split("/")], path):
                self.finding(
                    "archive-link-escape",
                    path,
                    f"{kind} target {target!r} resolves outside the archive root",
                )
            elif not symlink and not earlier_file:
                self.finding(
                    "archive-link-escape",
                    path,
                    f"hardlink target {target!r} is not an earlier file of the archive "
                    "(an extractor would link whatever is at that path on the restore host)",
                )
