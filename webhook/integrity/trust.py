"""The trust store: the public keys whose signatures the gate accepts, indexed by key id."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

from webhook.errors import ConfigError, InputError
from webhook.integrity.keys import PublicKey, key_id, load_public_key_pem

#: a trust store is a handful of keys; a directory with thousands of files is a mistake
MAX_KEYS: Final = 256
_SUFFIXES: Final = (".pem", ".pub")


class TrustStore(Mapping[str, PublicKey]):
    """Immutable mapping `sha256:<hex>` key id -> public key.

    Key ids are computed from the keys, never taken from file names, so renaming a file cannot
    make one key count as two.
    """

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        self._keys: dict[str, PublicKey] = {}
        for key in keys:
            self._keys[key_id(key)] = key
        if len(self._keys) > MAX_KEYS:
            raise ConfigError(f"trust store holds {len(self._keys)} keys, over {MAX_KEYS}")

    @classmethod
    def empty(cls) -> TrustStore:
        return cls(())

    @classmethod
    def from_dir(cls, path: Path) -> TrustStore:
        """Load every `*.pem`/`*.pub` file directly in `path` (sorted; hidden files skipped).

        A file that is not an accepted public key is a ConfigError naming it: a trust store that
        silently drops a key would make a threshold unreachable without saying why.
        """
        if not path.is_dir():
            raise ConfigError(
                "trust store directory does not exist or is not a directory", file=str(path)
            )
        try:
            entries = sorted(
                p for p in path.iterdir() if p.suffix in _SUFFIXES and not p.name.startswith(".")
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot list trust store: {exc.strerror or exc}", file=str(path)
            ) from None
        if len(entries) > MAX_KEYS:
            raise ConfigError(
                f"trust store has {len(entries)} key files, over {MAX_KEYS}", file=str(path)
            )
        keys: list[PublicKey] = []
        for entry in entries:
            try:
                data = entry.read_bytes()
            except OSError as exc:
                raise ConfigError(
                    f"cannot read key file: {exc.strerror or exc}", file=str(entry)
                ) from None
            try:
                keys.append(load_public_key_pem(data, file=str(entry)))
            except InputError as exc:
                raise ConfigError(exc.message, file=str(entry)) from None
        return cls(keys)

    def __getitem__(self, keyid: str) -> PublicKey:
        return self._keys[keyid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keyids(self) -> tuple[str, ...]:
        """Sorted key ids, for messages and `policy show`."""
        return tuple(sorted(self._keys))

    def __repr__(self) -> str:
        return f"TrustStore({len(self)} keys)"
