"""Opaque keyset cursors: callers hand back what we gave them; anything else is rejected."""

from __future__ import annotations

import base64
import binascii

from webhook.errors import InputError

_MAX_CURSOR = 64


def encode(kind: str, *parts: int | str) -> str:
    """`kind` names the listing so a records cursor cannot be replayed against alerts."""
    raw = ":".join((kind, *(str(p) for p in parts)))
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def decode(kind: str, cursor: str, count: int) -> list[str]:
    """The `count` parts of a cursor of `kind`; InputError naming the field otherwise."""
    bad = InputError(f"invalid cursor {cursor[:_MAX_CURSOR]!r} for {kind}", field="cursor")
    if not cursor or len(cursor) > _MAX_CURSOR:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise bad from None
    parts = raw.split(":")
    if len(parts) != count + 1 or parts[0] != kind:
        raise bad
    return parts[1:]


def decode_int(text: str, kind: str) -> int:
    """A positive integer part of a cursor."""
    if not text.isdigit() or len(text) > 19:
        raise InputError(f"invalid cursor for {kind}", field="cursor")
    return int(text)
