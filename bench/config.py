"""Run-wide settings: how many rounds and how long each load lasts, full vs --quick."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.procs import BENCH_CACHE


@dataclass(frozen=True)
class Config:
    quick: bool
    rounds: int
    load_seconds: float
    workdir: Path = BENCH_CACHE / "run"

    @classmethod
    def make(cls, quick: bool, rounds: int | None = None) -> Config:
        if quick:
            return cls(True, rounds or 3, 1.0)
        return cls(False, rounds or 5, 5.0)
