"""T2 (replication integrity): mutations of the good example never ALLOW unless stated benign.

Unsigned mutations (a byte of the snapshot, a WAL file, the attestation or the manifest changed)
must BLOCK. Archive edits are re-attested with the trusted TEST key (a producer shipping a hostile
snapshot), so the archive guards alone must catch them.
"""

from __future__ import annotations

import copy
import io
import json
import re
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, note, settings
from hypothesis import strategies as st

from tests.property.support import (
    T2_GOOD,
    decide_t2,
    explain,
    reattest,
    scaled,
    snapshot_members,
    t2_copy,
    t2_inputs,
    write_snapshot,
)
from tests.property.test_t1_mutations import SAMPLES, _only_keyids_differ, _paths

WALS = sorted(p.name for p in (T2_GOOD / "wal_files").iterdir())
FLIP_TARGETS = [
    "replication_manifest.yaml",
    "snapshot.tar.gz",
    "snapshot.dsse.json",
    *(f"wal_files/{w}" for w in WALS),
]
MEMBERS = snapshot_members(T2_GOOD / "snapshot.tar.gz")


@contextmanager
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield t2_copy(Path(tmp) / "t2")


def test_good_example_allows() -> None:
    d = decide_t2(t2_inputs(T2_GOOD))
    assert d.decision == "ALLOW", explain(d)
    with folder() as f:
        write_snapshot(f / "snapshot.tar.gz", copy.deepcopy(MEMBERS))
        reattest(f)
        d = decide_t2(t2_inputs(f))
        assert d.decision == "ALLOW", explain(d)


def _manifest_same(original: bytes, mutated: bytes) -> bool:
    """The manifest is unsigned; a flip is benign iff it parses to the same data (a comment)."""
    from webhook.contracts.strict import load_yaml
    from webhook.errors import InputError

    try:
        return bool(load_yaml(mutated, source="m") == load_yaml(original, source="m"))
    except InputError:
        return False


@settings(max_examples=scaled(120))
@given(
    name=st.sampled_from(FLIP_TARGETS),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    mask=st.integers(min_value=1, max_value=255),
)
def test_byte_flip_never_allows(name: str, where: float, mask: int) -> None:
    with folder() as f:
        path = f / name
        original = path.read_bytes()
        data = bytearray(original)
        i = int(where * len(data))
        data[i] ^= mask
        path.write_bytes(bytes(data))
        note(f"{name}[{i}] ^= {mask:#x}")
        d = decide_t2(t2_inputs(f))
    if name == "snapshot.dsse.json" and _only_keyids_differ(original, bytes(data)):
        return  # benign: the keyid is an unauthenticated hint
    if name == "replication_manifest.yaml" and _manifest_same(original, bytes(data)):
        return  # benign: a comment changed; every field is still cross-checked
    assert d.decision == "BLOCK", f"flip {name}[{i}] ^= {mask:#x} was ALLOWed"


@pytest.mark.parametrize("wal", WALS)
def test_wal_file_removed_or_added_blocks(wal: str) -> None:
    with folder() as f:
        (f / "wal_files" / wal).unlink()
        assert decide_t2(t2_inputs(f)).decision == "BLOCK"
    with folder() as f:
        (f / "wal_files" / "000000010000000000000009").write_bytes(b"extra")
        assert decide_t2(t2_inputs(f)).decision == "BLOCK"


def test_wal_files_swapped_blocks() -> None:
    with folder() as f:
        a, b = (f / "wal_files" / WALS[0]), (f / "wal_files" / WALS[1])
        da, db = a.read_bytes(), b.read_bytes()
        a.write_bytes(db)
        b.write_bytes(da)
        assert decide_t2(t2_inputs(f)).decision == "BLOCK"


# ---- archive members edited, then re-attested ---------------------------------------------


def _info(name: str, kind: bytes, *, link: str = "", size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = size
    info.mode = 0o644
    info.mtime = 1790000000
    return info


def _sums(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    import hashlib

    lines = [
        f"{hashlib.sha256(d).hexdigest()}  {m.name}\n"
        for m, d in members
        if m.isfile() and m.name != "SHA256SUMS" and d is not None
    ]
    return "".join(lines).encode()


def _with_sums(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> list[Any]:
    """Rewrite SHA256SUMS so it vouches for exactly the regular members present."""
    out = [(m, d) for m, d in members if m.name != "SHA256SUMS"]
    return [*out, (_info("SHA256SUMS", tarfile.REGTYPE), _sums(out))]


def _edit(op: str) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    members = copy.deepcopy(MEMBERS)
    first = members[0][0].name  # base/PG_VERSION
    if op == "content":  # SHA256SUMS left as it was
        members[0] = (members[0][0], b"99\n")
    elif op == "content+sums":
        members[0] = (members[0][0], b"99\n")
        members = _with_sums(members)
    elif op == "drop-listed":
        members = members[1:]
    elif op == "unlisted":
        members.insert(1, (_info("base/extra", tarfile.REGTYPE), b"x"))
    elif op == "drop-sums":
        members = [(m, d) for m, d in members if m.name != "SHA256SUMS"]
    elif op == "dup-file":
        members.append((_info(first, tarfile.REGTYPE), b"99\n"))
    elif op == "dup-file+sums":
        members = _with_sums([*members, (_info(first, tarfile.REGTYPE), b"99\n")])
    elif op.startswith("dup-") or op.startswith("dupsums-"):
        kind = {
            "symlink": tarfile.SYMTYPE,
            "hardlink": tarfile.LNKTYPE,
            "dir": tarfile.DIRTYPE,
        }[op.split("-", 1)[1]]
        link = "global/pg_control" if kind == tarfile.LNKTYPE else "16384/2619"
        extra = (_info(first, kind, link="" if kind == tarfile.DIRTYPE else link), None)
        members.insert(len(members) - 1, extra)
    elif op == "traversal":
        members.insert(1, (_info("../evil", tarfile.REGTYPE), b"x"))
        members = _with_sums(members)
    elif op == "absolute":
        members.insert(1, (_info("/etc/evil", tarfile.REGTYPE), b"x"))
        members = _with_sums(members)
    elif op == "symlink-escape":
        members.insert(1, (_info("base/up", tarfile.SYMTYPE, link="../../.."), None))
    elif op == "through-symlink":
        members.insert(1, (_info("base/up", tarfile.SYMTYPE, link="../.."), None))
        members.insert(2, (_info("base/up/evil", tarfile.REGTYPE), b"x"))
        members = _with_sums(members)
    elif op == "hardlink-escape":
        members.insert(1, (_info("base/h", tarfile.LNKTYPE, link="../../etc/passwd"), None))
    elif op == "fifo":
        members.insert(1, (_info("base/p", tarfile.FIFOTYPE), None))
    elif op == "chardev":
        members.insert(1, (_info("base/c", tarfile.CHRTYPE), None))
    else:
        raise AssertionError(op)
    return members


#: ops where ALLOW is right: the signer vouched for the whole file and it is self-consistent
BENIGN_OPS = {
    "content+sums": "content changed and SHA256SUMS updated: a consistent, signed snapshot",
    "drop-sums": "SHA256SUMS is optional (docs/artifacts.md)",
}
OPS = [
    "content",
    "content+sums",
    "drop-listed",
    "unlisted",
    "drop-sums",
    "dup-file",
    "dup-file+sums",
    "dup-symlink",  # issue 11 item 4 (name reuse): passes with the archive-member-reused fix
    "dup-hardlink",
    "dup-dir",
    "traversal",
    "absolute",
    "symlink-escape",
    "through-symlink",
    "hardlink-escape",
    "fifo",
    "chardev",
]


@pytest.mark.parametrize("op", OPS)
def test_archive_member_edit_reattested(op: str) -> None:
    with folder() as f:
        write_snapshot(f / "snapshot.tar.gz", _edit(op))
        reattest(f)
        d = decide_t2(t2_inputs(f))
    if op in BENIGN_OPS:
        assert d.decision == "ALLOW", explain(d)
        return
    assert d.decision == "BLOCK", f"archive edit {op!r} was ALLOWed"


@settings(max_examples=scaled(40))
@given(
    member=st.sampled_from([m.name for m, d in MEMBERS if m.name != "SHA256SUMS"]),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    mask=st.integers(min_value=1, max_value=255),
)
def test_member_byte_flip_reattested_blocks(member: str, where: float, mask: int) -> None:
    """A flipped byte inside a listed member, re-attested: SHA256SUMS must catch it."""
    members = copy.deepcopy(MEMBERS)
    for k, (m, d) in enumerate(members):
        if m.name == member and d:
            buf = bytearray(d)
            buf[int(where * len(buf))] ^= mask
            members[k] = (m, bytes(buf))
    with folder() as f:
        write_snapshot(f / "snapshot.tar.gz", members)
        reattest(f)
        assert decide_t2(t2_inputs(f)).decision == "BLOCK"


def test_helpers_build_real_tar() -> None:
    """The edit helper itself: a dup-symlink archive really carries the name twice."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for info, data in _edit("dup-symlink"):
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r:gz") as tf:
        names = [m.name for m in tf.getmembers()]
    assert names.count("base/PG_VERSION") == 2
    assert re.match(r"^base/", names[0])
    assert json.dumps(names)


# ---- the (unsigned) replication manifest: fields removed or retyped ------------------------

MANIFEST: dict[str, Any] = yaml.safe_load((T2_GOOD / "replication_manifest.yaml").read_bytes())
#: the manifest is not signed, but every field is cross-checked with the attestation and the
#: files; only `env` may go: the door says prod, which is what the manifest says
BENIGN_MANIFEST = {("env", "REMOVE"), ("env", "null"), ("env", "str-prod")}


def _manifest_cases() -> list[Any]:
    cases = []
    for path in _paths(MANIFEST):
        for tag in ["REMOVE", *SAMPLES]:
            cases.append(pytest.param(path, tag, id=f"{'.'.join(map(str, path))}={tag}"))
    return cases


@pytest.mark.parametrize(("path", "tag"), _manifest_cases())
def test_replication_manifest_field_mutated(path: tuple[str | int, ...], tag: str) -> None:
    doc = copy.deepcopy(MANIFEST)
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if tag == "REMOVE":
        del parent[path[-1]]
    else:
        parent[path[-1]] = SAMPLES[tag]
    with folder() as f:
        (f / "replication_manifest.yaml").write_bytes(yaml.safe_dump(doc, sort_keys=False).encode())
        d = decide_t2(t2_inputs(f))
    if (".".join(map(str, path)), tag) in BENIGN_MANIFEST:
        return
    assert d.decision == "BLOCK", f"{path} {tag} was ALLOWed"
