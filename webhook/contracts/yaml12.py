"""What a YAML 1.2 reader makes of a plain scalar, to refuse the spellings where it and we differ.

The gate parses with PyYAML, a YAML 1.1 reader; the application that later reads the same
app-config.yaml may read YAML 1.2 (Go's yaml.v3, ruamel, libfyaml, most newer tooling). Where
the two disagree on a plain (unquoted) scalar, the gate would check one value and the
application run with another: `privileged: no` is False here and the string "no" (truthy) there;
`port: 020373` is 8443 here and 20373 there; `1.0e5` is a string here and 100000.0 there. Such a
document is ambiguous, so it is refused, naming the field: quoting the value or writing it in
the spelling both versions share removes the doubt.

The resolver below is the YAML 1.2 core schema (spec 1.2.2, section 10.3.2), with anchored,
linear patterns; `differs()` compares its reading with PyYAML's.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

_NULL: Final = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE: Final = frozenset({"true", "True", "TRUE"})
_FALSE: Final = frozenset({"false", "False", "FALSE"})
_INT10: Final = re.compile(r"[-+]?[0-9]+")
_INT8: Final = re.compile(r"0o[0-7]+")
_INT16: Final = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF: Final = re.compile(r"[-+]?(?:\.inf|\.Inf|\.INF)")
_NAN: Final = frozenset({".nan", ".NaN", ".NAN"})
#: longer plain scalars are never numbers in practice; reading them as strings keeps this cheap
_MAX_NUMBER_CHARS: Final = 400


def core_value(plain: str) -> Any:
    """The value a YAML 1.2 core-schema reader gives the plain scalar `plain`."""
    if plain in _NULL:
        return None
    if plain in _TRUE:
        return True
    if plain in _FALSE:
        return False
    if len(plain) > _MAX_NUMBER_CHARS:
        return plain
    if _INT10.fullmatch(plain):
        return int(plain, 10)
    if _INT8.fullmatch(plain):
        return int(plain[2:], 8)
    if _INT16.fullmatch(plain):
        return int(plain[2:], 16)
    if _FLOAT.fullmatch(plain):
        return float(plain)
    if _INF.fullmatch(plain):
        return -math.inf if plain.startswith("-") else math.inf
    if plain in _NAN:
        return math.nan
    return plain


def _same(ours: Any, theirs: Any) -> bool:
    if type(ours) is not type(theirs):
        return False
    if isinstance(ours, float) and math.isnan(ours):
        return math.isnan(theirs)
    return bool(ours == theirs)


def differs(plain: str, ours: Any) -> str | None:
    """Why YAML 1.2 reads `plain` otherwise than the gate read it (`ours`); None if alike."""
    theirs = core_value(plain)
    if _same(ours, theirs):
        return None
    return (
        f"{plain!r} reads as {_shown(ours)} here but as {_shown(theirs)} in YAML 1.2; "
        "quote it, or write it as both read it"
    )


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}" if len(value) <= 40 else "a string"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"
