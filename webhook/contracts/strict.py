"""Strict parsing of untrusted JSON and YAML bytes.

YAML goes through `yaml.CSafeLoader` (the C parser) with a constructor that rejects duplicate
keys, non-string keys, alias bombs, over-deep nesting and every tag outside the JSON-compatible
set (`!!binary`, timestamps, `!!set`, custom tags: a value a JSON reader would see differently
is refused, not converted); JSON rejects duplicate keys, NaN/Infinity and oversized input.
Both refuse keys of one mapping that differ only in case (`enabled` / `Enabled`): a
case-insensitive config binder would read either. YAML also refuses plain scalars that a
YAML 1.2 reader would read otherwise than this YAML 1.1 parser (`no`, `020373`, `1.0e5`; see
`yaml12`). Every error is an `InputError` naming the file and the field.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import yaml

from webhook.contracts import yaml12
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


def case_twin(keys: dict[str, str], key: str) -> str | None:
    """The earlier key of a mapping that equals `key` but for case, recording `key` if none.

    `keys` maps casefolded names to the first spelling seen, per mapping.
    """
    folded = key.casefold()
    first = keys.setdefault(folded, key)
    return first if first != key else None


def _twin_message(first: str, key: str) -> str:
    return (
        f"keys {first!r} and {key!r} differ only in case; a case-insensitive config binder "
        "could read either (keep one)"
    )


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
    """Nesting within `limit`, and no two keys of one mapping equal but for case."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if depth > limit:
            raise InputError(
                f"nesting deeper than {limit} levels", file=source, field=where or None
            )
        if isinstance(item, dict):
            keys: dict[str, str] = {}
            for k, v in item.items():
                if (first := case_twin(keys, k)) is not None:
                    raise InputError(_twin_message(first, k), file=source, field=_path(where, k))
                stack.append((v, depth + 1, _path(where, k)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1, _path(where, i)) for i, v in enumerate(item))


# --- YAML ---------------------------------------------------------------------------------------

_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_FLOAT_TAG = "tag:yaml.org,2002:float"
#: the scalar tags whose values JSON can carry unchanged
_JSON_SCALARS = frozenset(
    {
        _STR_TAG,
        _FLOAT_TAG,
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
    }
)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


#: where a node sits: () for the root, else (parent's _Where, key); written out as a dotted
#: path only when an error names it, so a document that parses pays no string building
_Where = tuple[Any, ...]
_ROOT: _Where = ()


def _render(where: _Where) -> str:
    keys: list[str | int] = []
    while where:
        where, key = where
        keys.append(key)
    out = ""
    for key in reversed(keys):
        out = _path(out, key)
    return out


# memo: pure, bounded (4096); measured 0.7 -> 0.04 us a plain scalar
@functools.lru_cache(maxsize=4096)
def _plain_differs(plain: str) -> str | None:
    """`yaml12.differs` for an implicit plain scalar PyYAML read as the string `plain`.

    A pure function of the text (the value of an implicit str scalar is its text), remembered
    because config keys and common values repeat across documents."""
    return yaml12.differs(plain, plain)


#: longer plain strings are checked without the memo (they are rarely repeated)
_MEMO_PLAIN_CHARS = 64


_RESOLVER = yaml.resolver.Resolver()


# memo: pure, bounded (4096); measured 0.3 -> 0.05 us a scalar (~100 a 2 KiB config)
@functools.lru_cache(maxsize=4096)
def _scalar_tag(value: str, implicit: tuple[bool, bool]) -> str:
    """SafeLoader's tag for a scalar: a pure function of its text and implicit flags (no path
    resolvers are registered), remembered because keys and common values repeat."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    return tag


class _Loader(yaml.CSafeLoader):
    """CSafeLoader whose scalar resolution (called by the C composer for every scalar) is
    remembered for short texts; everything else is CSafeLoader's."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and not self.yaml_path_resolvers and len(value) <= 64:
            return _scalar_tag(value, tuple(implicit))
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


class _Builder:
    """Builds plain data from composed nodes, naming the exact field in every error.

    The C parser composes the node graph; this walk constructs it so every guard sees the path:
    string keys only, no duplicates, standard tags only, a budget on alias references, and a
    bound on nodes built (an alias is built again, so a billion-laughs document hits the bound
    long before memory does).
    """

    def __init__(
        self, loader: yaml.CSafeLoader, source: str, limits: ParseLimits, text: str
    ) -> None:
        self.loader = loader
        self.text = text
        self.source = source
        self.limits = limits
        self.seen: set[int] = set()
        self.aliases = 0
        self.built = 0

    def fail(self, message: str, node: yaml.Node, where: _Where) -> InputError:
        mark = node.start_mark
        return InputError(
            f"{message} (line {mark.line + 1}, column {mark.column + 1})",
            file=self.source,
            field=_render(where) or None,
        )

    def build(self, node: yaml.Node, where: _Where, depth: int) -> Any:
        if depth > self.limits.max_depth:
            raise self.fail(f"nesting deeper than {self.limits.max_depth} levels", node, where)
        self.built += 1
        if self.built > self.limits.max_expanded_nodes:
            raise self.fail(
                f"document expands to more than {self.limits.max_expanded_nodes} nodes "
                "(YAML alias bomb?)",
                node,
                where,
            )
        if id(node) in self.seen:
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                raise self.fail(
                    f"more than {self.limits.max_aliases} YAML alias references", node, where
                )
        self.seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, where)
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            return [self.build(v, (where, i), depth + 1) for i, v in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            return self.mapping(node, where, depth)
        raise self.fail(f"unsupported YAML tag {_short(node.tag)}", node, where)

    def scalar(self, node: yaml.ScalarNode, where: _Where) -> Any:
        """Only JSON-compatible scalars: a date, bytes or a custom tag is refused, named."""
        tag = node.tag
        if tag == _STR_TAG:  # SafeConstructor's str is the scalar's text
            value = node.value
            if self.implicit(node):
                why = (
                    _plain_differs(value)
                    if len(value) <= _MEMO_PLAIN_CHARS
                    else yaml12.differs(value, value)
                )
                if why is not None:
                    raise self.fail(why, node, where)
            return value
        if tag == _TIMESTAMP_TAG:
            raise self.fail(
                "a YAML timestamp is not a JSON value; quote it to keep it as a string", node, where
            )
        if tag not in _JSON_SCALARS:
            raise self.fail(
                f"unsupported YAML tag {_short(tag)} (only JSON-compatible values: strings, "
                "numbers, booleans, null, lists and mappings)",
                node,
                where,
            )
        value = self.loader.construct_object(node)
        if tag == _FLOAT_TAG and not math.isfinite(value):
            raise self.fail(f"{node.value!r} is not a finite number (not valid JSON)", node, where)
        if self.implicit(node) and (why := yaml12.differs(node.value, value)) is not None:
            raise self.fail(why, node, where)
        return value

    def implicit(self, node: yaml.ScalarNode) -> bool:
        """A plain scalar whose type was guessed from its spelling (no quotes, no explicit tag)."""
        return not node.style and not self.text.startswith("!", node.start_mark.index)

    def mapping(self, node: yaml.MappingNode, where: _Where, depth: int) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves `<<` merge keys in place
        out: dict[str, Any] = {}
        keys: dict[str, str] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                kind = key_node.tag.rsplit(":", 1)[-1]
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "..."
                raise self.fail(
                    f"mapping key {shown!r} is a {kind}, expected a string (quote it)",
                    key_node,
                    where,
                )
            key = str(key_node.value)
            at = (where, key)
            if self.implicit(key_node):
                why = (
                    _plain_differs(key)
                    if len(key) <= _MEMO_PLAIN_CHARS
                    else yaml12.differs(key, key)
                )
                if why is not None:
                    raise self.fail(f"mapping key {why}", key_node, at)
            if key in out:
                raise self.fail(f"duplicate key {key!r}", key_node, at)
            folded = key.casefold()  # case_twin, inlined: once per key of every mapping
            first = keys.setdefault(folded, key)
            if first != key:
                raise self.fail(_twin_message(first, key), key_node, at)
            out[key] = self.build(value_node, at, depth + 1)
        return out


def _short(tag: str) -> str:
    """`tag:yaml.org,2002:binary` -> `!!binary`; other tags as written."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def load_yaml(data: bytes, *, source: str, limits: ParseLimits = DEFAULT_LIMITS) -> Any:
    """Parse exactly one YAML document safely into plain dict/list/scalar data."""
    text = _decode(data, source=source, limits=limits)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError("document is empty", file=source)
        return _Builder(loader, source, limits, text).build(node, _ROOT, 1)
    except InputError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise InputError(f"invalid YAML: {exc.problem}{where}", file=source) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise InputError(f"invalid YAML: {' '.join(str(exc).split())}", file=source) from None
    finally:
        loader.dispose()
