"""The default token files are named for what they hold; the pre-0.2 names keep working."""

from __future__ import annotations

from pathlib import Path

from webhook.server.auth import (
    CLEAR_FILE,
    HASH_FILE,
    LEGACY_CLEAR_FILE,
    LEGACY_HASH_FILE,
    TokenStore,
    default_token_files,
    ensure_token_file,
    link_legacy_names,
)


def test_names_say_what_each_file_holds() -> None:
    assert HASH_FILE.endswith(".sha256") and CLEAR_FILE.endswith(".clear")


def test_a_fresh_state_dir_gets_the_new_names_and_links_at_the_old(tmp_path: Path) -> None:
    files = default_token_files(tmp_path)
    assert (files.hashes, files.clear, files.deprecated) == (
        tmp_path / HASH_FILE,
        tmp_path / CLEAR_FILE,
        None,
    )
    token = ensure_token_file(files.hashes, files.clear)
    assert token is not None and token not in files.hashes.read_text()
    link_legacy_names(files)
    old_hashes, old_clear = tmp_path / LEGACY_HASH_FILE, tmp_path / LEGACY_CLEAR_FILE
    assert old_hashes.is_symlink() and old_clear.is_symlink()
    assert old_clear.read_text().strip() == token  # `cat .state/operator-token.txt` still works
    assert TokenStore.load(old_hashes).authenticate(token) is not None
    # the links are ours: the next start still uses the new names, without a deprecation
    assert default_token_files(tmp_path) == files
    link_legacy_names(files)  # idempotent


def test_a_pre_rename_state_dir_is_read_with_a_deprecation(tmp_path: Path) -> None:
    old_hashes, old_clear = tmp_path / LEGACY_HASH_FILE, tmp_path / LEGACY_CLEAR_FILE
    token = ensure_token_file(old_hashes, old_clear)
    assert token is not None
    files = default_token_files(tmp_path)
    assert (files.hashes, files.clear) == (old_hashes, old_clear)
    assert files.deprecated is not None
    assert str(tmp_path / HASH_FILE) in files.deprecated and "--token-file" in files.deprecated
    assert ensure_token_file(files.hashes, files.clear) is None  # nothing new is written
    link_legacy_names(files)  # never replaces a real file
    assert not old_hashes.is_symlink() and not (tmp_path / HASH_FILE).exists()
    assert TokenStore.load(files.hashes).authenticate(token) is not None
