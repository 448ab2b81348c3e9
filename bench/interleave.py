"""A/B(/C) interleaving: each round runs every side once, rotating which side goes first."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def interleave(rounds: int, sides: Mapping[str, Callable[[], float]],
               warmup: bool = True) -> dict[str, list[float]]:
    """Samples per side. One unrecorded warm-up run per side fills the page cache and JITs nothing
    but lets lazy imports, TLS session setup and the like settle before anything counts."""
    names = list(sides)
    if warmup:
        for name in names:
            sides[name]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            out[name].append(sides[name]())
    return out
