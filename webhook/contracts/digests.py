"""How a declared digest is written: one rule for every digest field an artifact carries.

`config_sha256`, `expected_snapshot_hash` and `wal_files[].sha256` are all parsed here, by the
models (`models.py`) and the pipelines alike, so a format mistake gets the same precise message
everywhere and is always a schema finding (input-invalid), never an integrity failure. Pure
syntax: computing and comparing digests is `webhook/integrity/hashing.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from webhook.errors import InputError

#: the only algorithms the gate computes or trusts (md5/sha1/bare hex are outdated hashing)
STRONG: Final = ("sha256", "sha384", "sha512")
#: hex length of each recognised algorithm; bare hex is classified by this length
HEX_LENGTHS: Final[dict[str, int]] = {
    "md5": 32,
    "sha1": 40,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
}
#: the algorithm a bare hex string is taken for, by its length
ALGORITHM_BY_LENGTH: Final = {n: alg for alg, n in HEX_LENGTHS.items()}
_MAX_DIGEST_TEXT: Final = 160
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True)
class Digest:
    """A digest as written in a manifest: `alg:<hex>`, or bare hex.

    `prefixed` says the algorithm is known: written as a prefix, or fixed by the field's name
    (`config_sha256`, `wal_files[].sha256`). Bare hex anywhere else is only a guess by length
    (`prefixed` False), which the weak-hash policy refuses as outdated hashing.
    """

    algorithm: str
    hex: str
    prefixed: bool

    @property
    def is_weak(self) -> bool:
        """True for md5/sha1 and for any unprefixed digest (the algorithm is only a guess)."""
        return not self.prefixed or self.algorithm not in STRONG

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}" if self.prefixed else self.hex


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def digest_forms(algorithm: str | None) -> str:
    """The spellings a digest field accepts, for messages and docs."""
    if algorithm is not None:
        n = HEX_LENGTHS[algorithm]
        return f"{algorithm}:<{n} lowercase hex> or the bare {n} lowercase hex"
    return "sha256:<64 lowercase hex> (or sha384:<96 hex>, sha512:<128 hex>)"


def parse_digest(value: str, *, file: str, field: str, algorithm: str | None = None) -> Digest:
    """Parse a declared digest strictly; raise InputError naming file and field otherwise.

    One rule for every digest field (docs/artifacts.md, "Digests"): `sha256:<hex>` everywhere;
    the prefix one of sha256/sha384/sha512/sha1/md5, lowercase; the hex lowercase (two
    spellings of one value make string comparison elsewhere unsafe) and exactly the algorithm's
    length. `algorithm` is the one a field's name fixes (`config_sha256`: "sha256"): there the
    bare hex of that length is accepted as that algorithm, and another strong algorithm is a
    mistake. Elsewhere bare hex of a recognised length is returned with `prefixed=False`
    (weak). md5/sha1 are returned (weak, for the outdated-hashing policy), never refused here.
    Every refusal is a format mistake, an InputError (input-invalid), never an integrity error.
    """
    forms = digest_forms(algorithm)

    def bad(why: str) -> InputError:
        return InputError(f"{why}; write {forms}", file=file, field=field)

    if not isinstance(value, str):
        raise InputError(
            f"expected a digest string, got {type(value).__name__}", file=file, field=field
        )
    if (why := _text_error(value)) is not None:
        raise bad(why)
    name, sep, hexpart = value.partition(":")
    prefixed = bool(sep)
    if not prefixed:
        hexpart, name = value, ""
    elif (why := _prefix_error(name)) is not None:
        raise bad(why)
    if (why := _hex_error(hexpart)) is not None:
        raise bad(why)
    if prefixed:
        why = _prefixed_length_error(name, hexpart, algorithm)
    elif algorithm is not None:
        # the field's name fixes the algorithm: bare hex of its length is that algorithm
        name, prefixed = algorithm, True
        why = _bare_length_error(hexpart, algorithm)
    else:
        guessed = ALGORITHM_BY_LENGTH.get(len(hexpart))
        why = (
            f"bare hex of length {len(hexpart)} matches no known algorithm"
            if guessed is None
            else None
        )
        name = guessed or ""
    if why is not None:
        raise bad(why)
    return Digest(algorithm=name, hex=hexpart, prefixed=prefixed)


def _text_error(value: str) -> str | None:
    """What makes `value` no digest text at all (empty, too long, padded), or None."""
    if not value:
        return "digest is empty"
    if len(value) > _MAX_DIGEST_TEXT:
        return f"digest is {len(value)} characters long, not a digest"
    if value != value.strip():
        return "digest has leading or trailing whitespace"
    return None


def _prefix_error(name: str) -> str | None:
    """What is wrong with a written algorithm prefix, or None."""
    if name.lower() != name:
        return f"algorithm prefix {name!r} must be lowercase"
    if name not in HEX_LENGTHS:
        return f"unsupported digest algorithm {name!r}"
    return None


def _hex_error(hexpart: str) -> str | None:
    """What is wrong with the hex digits (not hex, or not lowercase), or None."""
    if not _HEX.fullmatch(hexpart):
        return f"{_shown(hexpart)} is not hexadecimal"
    if hexpart != hexpart.lower():
        return "hex digits must be lowercase"
    return None


def _bare_length_error(hexpart: str, algorithm: str) -> str | None:
    """Bare hex in a field whose name fixes `algorithm`: it must be that algorithm's length."""
    if len(hexpart) != HEX_LENGTHS[algorithm]:
        return (
            f"a bare {algorithm} digest is {HEX_LENGTHS[algorithm]} hex characters, "
            f"found {len(hexpart)}"
        )
    return None


def _prefixed_length_error(name: str, hexpart: str, algorithm: str | None) -> str | None:
    """A prefixed digest: another strong algorithm than the field's, or the wrong length."""
    if algorithm is not None and name != algorithm and name in STRONG:
        return f"this field holds a {algorithm} digest (found a {name} digest)"
    want = HEX_LENGTHS[name]
    if len(hexpart) != want:
        return f"{name} digest must be {want} hex characters, found {len(hexpart)}"
    return None
