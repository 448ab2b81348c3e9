"""Size and shape limits for untrusted input; one place so every door enforces the same bounds."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class ParseLimits:
    """Bounds for a single JSON/YAML document (docs/artifacts.md)."""

    max_bytes: int = 1 * MiB
    #: alias references allowed in one YAML document (anchors are rare in configs; bombs need many)
    max_aliases: int = 64
    #: nodes in the document once every alias is expanded (billion-laughs guard)
    max_expanded_nodes: int = 200_000
    max_depth: int = 64


DEFAULT_LIMITS = ParseLimits()
