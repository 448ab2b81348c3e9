"""`file://` snapshots are opened beneath the root with O_NOFOLLOW and hashed from that descriptor.

Every hostile path (a symlink in the last or a middle component, `..`, not a regular file) BLOCKs
with a reason naming the component; a path swapped for a symlink after the door opened it still
hashes the bytes the door checked (issue 11 item 9).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from webhook.errors import InputError
from webhook.integrity import hash_file
from webhook.pipelines import ReplicationInputs
from webhook.server.objects import Converted, SnapshotPolicy, config_map, replication_request

SPEC = {
    "sourceDb": "a",
    "targetDb": "b",
    "syncMode": "full",
    "expectedSnapshotHash": "sha256:" + "0" * 64,
    "walFiles": [],
    "attestation": {"payloadType": "x", "payload": "", "signatures": []},
}
GOOD = b"good snapshot bytes"
EVIL = b"evil bytes outside the root"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(root, outside): root/real/s.tar.gz is the one good snapshot."""
    root = tmp_path / "snaps"
    (root / "real").mkdir(parents=True)
    (root / "real" / "s.tar.gz").write_bytes(GOOD)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "s.tar.gz").write_bytes(EVIL)
    return root, outside


def convert(uri: str, root: Path) -> Converted:
    return replication_request(
        {"spec": {**SPEC, "snapshot": {"uri": uri}}}, SnapshotPolicy(root, 1000)
    )


def refused(conv: Converted) -> list[str]:
    assert isinstance(conv.inputs, ReplicationInputs)
    assert conv.inputs.snapshot is None
    assert [(r.policy, r.field, r.severity) for r in conv.reasons] == [
        ("input-invalid", "spec.snapshot.uri", "critical")
    ]
    return [r.message for r in conv.reasons]


def test_symlink_in_the_last_component_blocks(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "real" / "link.tar.gz").symlink_to(outside / "s.tar.gz")
    [message] = refused(convert(f"file://{root}/real/link.tar.gz", root))
    assert "'real/link.tar.gz' is a symlink (symlinks are never followed" in message


@pytest.mark.parametrize("inside", [False, True], ids=["to-outside", "to-inside"])
def test_symlink_in_a_middle_component_blocks(tree: tuple[Path, Path], inside: bool) -> None:
    root, outside = tree
    (root / "alias").symlink_to(root / "real" if inside else outside)
    [message] = refused(convert(f"file://{root}/alias/s.tar.gz", root))
    assert "'alias' is a symlink" in message


def test_dot_dot_blocks_even_when_it_stays_inside(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    [message] = refused(convert(f"file://{root}/real/../real/s.tar.gz", root))
    assert "'..'" in message
    [message] = refused(convert(f"file://{root}/../outside/s.tar.gz", root))
    assert "'..'" in message


@pytest.mark.parametrize("what", ["directory", "fifo", "missing"])
def test_not_a_regular_file_blocks(tree: tuple[Path, Path], what: str) -> None:
    root, _ = tree
    target = root / "real" / "x"
    if what == "directory":
        target.mkdir()
    elif what == "fifo":
        os.mkfifo(target)  # opened O_NONBLOCK: the door must not hang on it
    [message] = refused(convert(target.as_uri(), root))
    assert ("does not exist" if what == "missing" else "is not a regular file") in message


def test_a_config_map_uri_blocks_the_same_way(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (root / "real" / "link.tar.gz").symlink_to(outside / "s.tar.gz")
    labels = {"migrationgate.io/scenario": "replication"}
    data = {
        "replication_manifest.yaml": "a: 1\n",
        "snapshot.uri": f"file://{root}/real/link.tar.gz",
    }
    conv = config_map({"metadata": {"labels": labels}, "data": data}, SnapshotPolicy(root, 1000))
    assert [(r.policy, r.field) for r in conv.reasons] == [("input-invalid", "data.snapshot.uri")]


def test_not_for_this_gate_stays_a_warning(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    for uri, policy in [
        ((outside / "s.tar.gz").as_uri(), SnapshotPolicy(root, 1000)),  # outside the root
        ("s3://bucket/s.tar.gz", SnapshotPolicy(root, 1000)),
        ((root / "real" / "s.tar.gz").as_uri(), SnapshotPolicy(root, 5)),  # over the size limit
        ((root / "real" / "s.tar.gz").as_uri(), SnapshotPolicy(None, 1000)),
    ]:
        conv = replication_request({"spec": {**SPEC, "snapshot": {"uri": uri}}}, policy)
        assert conv.reasons == (), uri
        assert [w.policy for w in conv.warnings] == ["snapshot-not-hashed"], uri


def test_a_swap_after_the_check_cannot_change_what_is_hashed(tree: tuple[Path, Path]) -> None:
    """TOCTOU: once the door has opened the snapshot, the path becomes a symlink to outside."""
    root, outside = tree
    conv = convert((root / "real" / "s.tar.gz").as_uri(), root)
    assert conv.reasons == ()
    assert isinstance(conv.inputs, ReplicationInputs) and conv.inputs.snapshot is not None
    swapped = root / "real" / "swap"
    swapped.symlink_to(outside / "s.tar.gz")
    os.replace(swapped, root / "real" / "s.tar.gz")
    (root / "real").rename(root / "moved")
    (root / "real").symlink_to(outside)
    assert hash_file(conv.inputs.snapshot) == hashlib.sha256(GOOD).hexdigest()


def test_wal_segments_are_read_without_following_a_swapped_in_symlink(
    tree: tuple[Path, Path],
) -> None:
    root, outside = tree
    wal = root / "real" / "wal_files"
    wal.mkdir()
    (wal / "000000010000000000000001").write_bytes(b"w1")
    (wal / "000000010000000000000002").symlink_to(outside / "s.tar.gz")  # never listed
    conv = convert((root / "real" / "s.tar.gz").as_uri(), root)
    assert isinstance(conv.inputs, ReplicationInputs)
    [(name, segment)] = conv.inputs.wal_files.items()
    assert name == "000000010000000000000001"
    assert not isinstance(segment, bytes)
    assert hash_file(segment) == hashlib.sha256(b"w1").hexdigest()
    # the segment is swapped for a symlink after the listing: reading it refuses, naming it
    swapped = wal / "swap"
    swapped.symlink_to(outside / "s.tar.gz")
    os.replace(swapped, wal / name)
    with pytest.raises(InputError, match="is a symlink"):
        hash_file(segment, file=f"wal_files/{name}")


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ({"uri": 5}, "the snapshot uri must be a string, not int"),
        ({}, "the snapshot uri is missing"),
        ("file:///x", "the snapshot uri is missing"),
    ],
)
def test_a_malformed_snapshot_field_blocks(
    tree: tuple[Path, Path], snapshot: object, message: str
) -> None:
    root, _ = tree
    conv = replication_request({"spec": {**SPEC, "snapshot": snapshot}}, SnapshotPolicy(root, 9))
    assert [m[: len(message)] for m in refused(conv)] == [message]
