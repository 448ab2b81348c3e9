"""Text a requester chose, made safe to store: encodable, bounded, always a `str`.

Two jobs. Doors call `ensure_encodable` on what a request carries (uid, request id, subject,
metadata) and answer 4xx naming the field, before any decision. The audit record applies `clean`
and `cap` to every string it stores anyway, so a value no door refused can never make a record
fail to encode (SQLite and UTF-8 refuse lone surrogates) and so drop the decision from the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from webhook.audit.canonical import canonical_json
from webhook.errors import InputError

#: how deep `ensure_encodable` follows nested values (deeper is refused, not recursed)
MAX_DEPTH = 64


def _surrogate_at(text: str) -> int:
    """Index of the first lone surrogate (code points U+D800..U+DFFF) in `text`, or -1."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return -1


def ensure_encodable(value: object, field: str) -> None:
    """InputError naming `field` (and the path inside it) if `value` holds text UTF-8 cannot carry.

    Walks str, mapping keys and values, lists and tuples. For the doors: call it on every string
    from the request that reaches the decision or its audit record (admission `uid`, API
    `X-Request-ID`, subject fields, manifest metadata) and answer 400/422 with the error.
    """
    _ensure(value, field, 0)


def _ensure(value: object, where: str, depth: int) -> None:
    if isinstance(value, str):
        at = _surrogate_at(value)
        if at >= 0:
            raise InputError(
                f"is not valid Unicode text: lone surrogate U+{ord(value[at]):04X} at position "
                f"{at}",
                field=where,
            )
        return
    if depth >= MAX_DEPTH:
        raise InputError(f"is nested deeper than {MAX_DEPTH} levels", field=where)
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = key if isinstance(key, str) else repr(key)
            _ensure(name, f"{where} (key {clean(name)[:64]!r})", depth + 1)
            _ensure(item, f"{where}.{clean(name)[:64]}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _ensure(item, f"{where}[{index}]", depth + 1)


def fits(value: object, limit: int) -> bool:
    """True if `value` is a str that `cap(value, limit)` would return unchanged."""
    return (
        isinstance(value, str)
        and len(value) <= limit
        and (value.isascii() or _surrogate_at(value) < 0)
    )


def clean(text: str) -> str:
    """`text` with each lone surrogate written as the six characters `\\udXXX` (deterministic).

    Everything else is kept as it is (NUL and control characters too: JSON escapes them, SQLite
    stores them); the result always encodes as UTF-8.
    """
    if _surrogate_at(text) < 0:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fingerprint(text: str) -> str:
    """First 16 hex digits of SHA-256 of the exact text (lone surrogates included)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def cap(text: str, limit: int) -> str:
    """`clean(text)`, cut to at most `limit` characters; a cut value ends with its length and
    fingerprint (`...[40000 chars, sha256:0123abcd...]`), so two long values stay distinct."""
    if fits(text, limit):
        return text
    safe = clean(text)
    if len(safe) <= limit:
        return safe
    suffix = f"...[{len(text)} chars, sha256:{fingerprint(text)}]"
    return safe[: max(limit - len(suffix), 0)] + suffix


def printable(text: str, limit: int = 256) -> str:
    """For a log line or a terminal: capped, control and other non-printable characters as
    `\\xNN` / `\\uNNNN`, so a requester's value cannot forge a line or a terminal escape."""
    out = cap(text, limit)
    if out.isprintable():
        return out
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in out)


def as_text(value: object) -> str:
    """A value that should have been a str, as one: itself, else its canonical JSON, else its
    type name (never raises)."""
    if isinstance(value, str):
        return value
    try:
        return canonical_json(value)
    except (TypeError, ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def digest_of(value: Any) -> str:
    """`sha256:` hex of the canonical JSON of `value` (lone surrogates are \\u-escaped by it)."""
    try:
        text = canonical_json(value)
    except (TypeError, ValueError, RecursionError):
        text = as_text(value)
    return "sha256:" + hashlib.sha256(text.encode("ascii", "backslashreplace")).hexdigest()
