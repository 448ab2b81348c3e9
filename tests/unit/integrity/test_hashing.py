"""Streaming digests agree with hashlib; digest strings are parsed strictly."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from webhook.errors import DeadlineExceeded, InputError
from webhook.integrity import (
    STRONG,
    Digest,
    MultiHasher,
    digests_equal,
    hash_bytes,
    hash_file,
    parse_digest,
)

# sizes around the 1 MiB chunk boundary, plus empty
SIZES = [0, 1, 1024 * 1024 - 1, 1024 * 1024, 3 * 1024 * 1024 + 17]


@pytest.mark.parametrize("algorithm", STRONG)
@pytest.mark.parametrize("size", SIZES)
def test_hash_file_matches_hashlib(tmp_path: Path, algorithm: str, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    want = hashlib.new(algorithm, data).hexdigest()
    assert hash_file(path, algorithm) == want
    assert hash_bytes(data, algorithm) == want


def test_multihasher_streams_in_pieces() -> None:
    data = os.urandom(2_500_000)
    mh = MultiHasher(STRONG)
    for i in range(0, len(data), 333_333):
        mh.update(memoryview(data)[i : i + 333_333])
    assert mh.hexdigests() == {a: hashlib.new(a, data).hexdigest() for a in STRONG}
    assert mh.size == len(data)


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha3_256", "SHA256", ""])
def test_only_strong_algorithms_are_computed(tmp_path: Path, algorithm: str) -> None:
    with pytest.raises(ValueError, match="unsupported hash algorithm"):
        hash_bytes(b"x", algorithm)
    with pytest.raises(ValueError):
        MultiHasher([algorithm])


def test_hash_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        hash_file(tmp_path / "nope.tar.gz", file="snapshot.tar.gz")
    assert exc.value.file == "snapshot.tar.gz"
    assert "cannot read" in exc.value.message
    with pytest.raises(InputError):
        hash_file(tmp_path)  # a directory


def test_hash_file_deadline(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    with pytest.raises(DeadlineExceeded):
        hash_file(path, deadline=time.monotonic() - 1)


H256 = hashlib.sha256(b"x").hexdigest()
H384 = hashlib.sha384(b"x").hexdigest()
H512 = hashlib.sha512(b"x").hexdigest()
HMD5 = hashlib.md5(b"x").hexdigest()
HSHA1 = hashlib.sha1(b"x").hexdigest()


@pytest.mark.parametrize(
    ("value", "algorithm", "prefixed", "weak"),
    [
        (f"sha256:{H256}", "sha256", True, False),
        (f"sha384:{H384}", "sha384", True, False),
        (f"sha512:{H512}", "sha512", True, False),
        (f"md5:{HMD5}", "md5", True, True),
        (f"sha1:{HSHA1}", "sha1", True, True),
        (H256, "sha256", False, True),
        (HMD5, "md5", False, True),
        (HSHA1, "sha1", False, True),
    ],
)
def test_parse_digest_good_and_weak(value: str, algorithm: str, prefixed: bool, weak: bool) -> None:
    d = parse_digest(value, file="replication_manifest.yaml", field="expected_snapshot_hash")
    assert d == Digest(algorithm=algorithm, hex=value.rpartition(":")[2], prefixed=prefixed)
    assert d.is_weak is weak
    assert str(d) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "digest is empty"),
        ("sha256:", "is not hexadecimal"),
        (f"sha256:{H256[:-1]}", "sha256 digest must be 64 hex characters, found 63"),
        (f"sha256:{H256}00", "found 66"),
        (f"sha512:{H256}", "sha512 digest must be 128 hex characters"),
        (f"sha256:{H256.upper()}", "hex digits must be lowercase"),
        (f"SHA256:{H256}", "algorithm prefix 'SHA256' must be lowercase"),
        (f"blake2b:{H512}", "unsupported digest algorithm 'blake2b'"),
        (f"sha256:{H256[:-1]}g", "is not hexadecimal"),
        (f" sha256:{H256}", "whitespace"),
        ("abc123", "bare hex of length 6 matches no known algorithm"),
        ("sha256:" + "0" * 500, "not a digest"),
        (f"sha256:sha256:{H256}", "is not hexadecimal"),
    ],
)
def test_parse_digest_garbage_names_file_and_field(value: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_digest(value, file="replication_manifest.yaml", field="expected_snapshot_hash")
    assert message in exc.value.message
    assert exc.value.file == "replication_manifest.yaml"
    assert exc.value.field == "expected_snapshot_hash"
    assert str(exc.value).startswith("replication_manifest.yaml: expected_snapshot_hash: ")


def test_parse_digest_rejects_non_strings() -> None:
    with pytest.raises(InputError, match="expected a digest string"):
        parse_digest(1234, file="m.yaml", field="h")  # type: ignore[arg-type]


def test_digests_equal() -> None:
    assert digests_equal(H256, H256)
    assert not digests_equal(H256, H256[:-1] + "0")
    assert not digests_equal(H256, H256[:-1])
