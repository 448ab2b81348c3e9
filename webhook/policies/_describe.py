"""One way to name a value's YAML type in messages ('a string', 'a mapping', 'null').

Shared by bundle validation, param validation and the checks so every message reads alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def kind(value: Any) -> str:
    """The YAML-level type of a value, with its article; never the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"
