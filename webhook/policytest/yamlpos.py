"""Line numbers for field paths in a YAML text, so reports point at the case or policy line."""

from __future__ import annotations

import re

import yaml

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """`cases[2].expect.decision` -> ["cases", 2, "expect", "decision"]."""
    return [int(index) if index else key for key, index in _PART.findall(path)]


def compose(text: str) -> yaml.Node | None:
    """The node tree of an already strictly-loaded text (no construction, so no alias cost)."""
    try:
        return yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return None


def line_of(root: yaml.Node | None, path: list[str | int]) -> int | None:
    """1-based line of the deepest node on `path` that exists; None without a tree."""
    node = root
    if node is None:
        return None
    for part in path:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if 0 <= part < len(node.value) else None
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return value  # type: ignore[no-any-return]
    return None
