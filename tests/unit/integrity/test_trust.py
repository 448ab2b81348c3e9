"""Trust store loading from a directory of PEM public keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from webhook.errors import ConfigError
from webhook.integrity import PrivateKey, TrustStore, key_id, private_key_pem, public_key_pem

Keys = dict[str, list[PrivateKey]]


def test_from_dir_loads_pem_and_pub_files(tmp_path: Path, keys: Keys) -> None:
    a, b, c = keys["ed25519"][0], keys["ecdsa-p384"][0], keys["rsa-pss"][0]
    (tmp_path / "a.pem").write_bytes(public_key_pem(a))
    (tmp_path / "b.pub").write_bytes(public_key_pem(b))
    (tmp_path / "c.pem").write_bytes(public_key_pem(c))
    (tmp_path / "README.txt").write_text("not a key, ignored")
    (tmp_path / ".hidden.pem").write_text("ignored")
    store = TrustStore.from_dir(tmp_path)
    assert len(store) == 3
    assert store.keyids == tuple(sorted(key_id(k) for k in (a, b, c)))
    assert key_id(store[key_id(a)]) == key_id(a)
    assert key_id(a) in store and "sha256:nope" not in store


def test_same_key_in_two_files_counts_once(tmp_path: Path, keys: Keys) -> None:
    k = keys["ed25519"][0]
    (tmp_path / "one.pem").write_bytes(public_key_pem(k))
    (tmp_path / "two.pem").write_bytes(public_key_pem(k))
    assert len(TrustStore.from_dir(tmp_path)) == 1


def test_empty_dir_and_empty_store(tmp_path: Path) -> None:
    assert len(TrustStore.from_dir(tmp_path)) == 0
    assert len(TrustStore.empty()) == 0 and TrustStore.empty().keyids == ()


def test_bad_file_is_a_config_error_naming_it(tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "good.pem").write_bytes(public_key_pem(keys["ed25519"][0]))
    (tmp_path / "bad.pem").write_text("-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ConfigError) as exc:
        TrustStore.from_dir(tmp_path)
    assert exc.value.file == str(tmp_path / "bad.pem")


@pytest.mark.parametrize("what", ["private", "weak-rsa"])
def test_unacceptable_keys_are_config_errors(tmp_path: Path, keys: Keys, what: str) -> None:
    if what == "private":
        data = private_key_pem(keys["ed25519"][0])
    else:
        data = rsa.generate_private_key(65537, 1024).public_key().public_bytes(
            Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
        )
    (tmp_path / "k.pem").write_bytes(data)
    with pytest.raises(ConfigError, match=r"PRIVATE key|1024 bits"):
        TrustStore.from_dir(tmp_path)


def test_missing_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        TrustStore.from_dir(tmp_path / "nope")
