"""Text a requester chose, made safe to store: encodable, bounded, always a `str`.

The doors refuse a lone surrogate in what a request carries before any decision
(`server.http.lone_surrogate_path`); the audit record applies `clean` and `cap` to every string
it stores anyway, so a value no door refused can never make a record fail to encode (SQLite and
UTF-8 refuse lone surrogates) and so drop the decision from the chain.
"""

from __future__ import annotations

import hashlib
from typing import Any

from webhook.audit.canonical import canonical_json


def _surrogate_at(text: str) -> int:
    """Index of the first lone surrogate (code points U+D800..U+DFFF) in `text`, or -1."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return -1


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
