"""Strict parsing of untrusted JSON and YAML bytes.

YAML goes through `yaml.CSafeLoader` (the C parser) with a constructor that rejects duplicate
keys, non-string keys, alias bombs and over-deep nesting; JSON rejects duplicate keys,
NaN/Infinity and oversized input. Every error is an `InputError` naming the file and the place.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from webhook.contracts.limits import DEFAULT_LIMITS, ParseLimits
from webhook.errors import InputError


def _decode(data: bytes, *, source: str, limits: ParseLimits) -> str:
    if len(data) > limits.max_bytes:
        raise InputError(f"document is larger than the {limits.max_bytes}-byte limit", file=source)
    if not data.strip():
        raise InputError("document is empty", file=source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 at byte {exc.start}", file=source) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


# --- JSON ---------------------------------------------------------------------------------------


def _no_duplicates(source: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise InputError(f"duplicate key {key!r}", file=source, field=key)
            out[key] = value
        return out

    return hook


def _reject_constant(source: str) -> Any:
    def hook(name: str) -> Any:
        raise InputError(f"{name} is not valid JSON", file=source)

    return hook


def _finite_float(source: str) -> Any:
    def hook(text: str) -> float:
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise InputError(f"number {text} overflows to infinity", file=source)
        return value

    return hook


def load_json(data: bytes, *, source: str, limits: ParseLimits = DEFAULT_LIMITS) -> Any:
    """Parse JSON strictly; the result contains only dict/list/str/int/float/bool/None."""
    text = _decode(data, source=source, limits=limits)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates(source),
            parse_constant=_reject_constant(source),
            parse_float=_finite_float(source),
        )
    except InputError:
        raise
    except json.JSONDecodeError as exc:
        raise InputError(
            f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", file=source
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"invalid JSON: {exc}", file=source) from None
    _check_depth(value, source=source, limit=limits.max_depth)
    return value


def _check_depth(value: Any, *, source: str, limit: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InputError(f"nesting deeper than {limit} levels", file=source)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


# --- YAML ---------------------------------------------------------------------------------------


class _StrictLoader(yaml.CSafeLoader):
    """CSafeLoader whose constructor enforces the gate's rules while building Python objects."""

    def __init__(self, stream: str, *, source: str, limits: ParseLimits) -> None:
        super().__init__(stream)
        self._source = source
        self._limits = limits
        self._aliases = 0

    def _fail(self, message: str, node: yaml.Node) -> InputError:
        mark = node.start_mark
        return InputError(
            f"{message} (line {mark.line + 1}, column {mark.column + 1})", file=self._source
        )

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node in self.constructed_objects:
            # a node met again is an alias reference: budget them (billion-laughs guard)
            self._aliases += 1
            if self._aliases > self._limits.max_aliases:
                raise self._fail(
                    f"more than {self._limits.max_aliases} YAML alias references", node
                )
        return super().construct_object(node, deep=deep)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise self._fail("expected a mapping", node)
        self.flatten_mapping(node)
        seen: set[str] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise self._fail(
                    f"mapping key {key!r} is a {type(key).__name__}, expected a string", key_node
                )
            if key in seen:
                raise self._fail(f"duplicate key {key!r}", key_node)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    "tag:yaml.org,2002:map",
    _StrictLoader.construct_mapping,
)


def _expanded_size(node: yaml.Node, *, limits: ParseLimits, source: str) -> int:
    """Count nodes as if every alias were expanded, memoised per node, depth-bounded."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if depth > limits.max_depth:
            mark = n.start_mark
            raise InputError(
                f"nesting deeper than {limits.max_depth} levels (line {mark.line + 1})",
                file=source,
            )
        key = id(n)
        if key in memo:
            return memo[key]
        total = 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(n, yaml.SequenceNode):
            for item in n.value:
                total += size(item, depth + 1)
        memo[key] = total
        if total > limits.max_expanded_nodes:
            raise InputError(
                f"document expands to more than {limits.max_expanded_nodes} nodes "
                "(YAML alias bomb?)",
                file=source,
            )
        return total

    return size(node, 1)


def load_yaml(data: bytes, *, source: str, limits: ParseLimits = DEFAULT_LIMITS) -> Any:
    """Parse exactly one YAML document safely; returns plain Python data."""
    text = _decode(data, source=source, limits=limits)
    loader = _StrictLoader(text, source=source, limits=limits)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError("document is empty", file=source)
        _expanded_size(node, limits=limits, source=source)
        return loader.construct_document(node)
    except InputError:
        raise
    except yaml.MarkedYAMLError as exc:
        where = ""
        if exc.problem_mark is not None:
            where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
        raise InputError(f"invalid YAML: {exc.problem}{where}", file=source) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise InputError(f"invalid YAML: {exc}", file=source) from None
    finally:
        loader.dispose()
