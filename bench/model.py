"""Samples, targets and verdicts: the one place that decides pass/fail for every benchmark.

A benchmark yields samples of the gate and of its baseline taken in alternating order (A/B
interleaved), so drift in the shared machine's load hits both sides alike. Samples taken in the
same round are paired: the ratio is the median of the per-round ratios, with their min..max, and
a row fails only when its target is missed in most rounds (a single noisy round cannot fail it,
nor pass it).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: ratio_min: gate/baseline must be >= target (throughput); ratio_max: gate/baseline <= target
#: (latency); abs_max: the gate figure itself must be <= target (RSS growth, p99 latency).
#: info: a comparison the issue asks for without a target (reported, never a verdict).
TargetKind = Literal["ratio_min", "ratio_max", "abs_max", "info"]
Status = Literal["pass", "fail", "pending", "error", "info"]


@dataclass(frozen=True)
class Summary:
    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Summary | None:
        if not samples:
            return None
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def fmt(self, unit: str) -> str:
        return f"{_num(self.median)} {unit} ({_num(self.min)}..{_num(self.max)})"


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if abs(x) >= 0.1 else f"{x:.3g}"


@dataclass
class Result:
    """One row of the table. `gate`/`baseline` hold raw per-round samples in `unit`."""

    id: str
    what: str
    unit: str
    kind: TargetKind
    target: float
    baseline_name: str
    gate: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    status: Status = "pending"
    note: str = ""
    profile: str = ""
    machine: str = ""
    date: str = ""
    mode: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def round_ratios(self) -> list[float]:
        """gate/baseline per round (samples of one round are paired); [] when unpaired."""
        if self.kind == "abs_max" and self.unit != "ms":
            return []
        if not self.gate or len(self.gate) != len(self.baseline) or 0 in self.baseline:
            return []
        return [g / b for g, b in zip(self.gate, self.baseline, strict=True)]

    @property
    def ratio(self) -> float | None:
        """Median of the per-round ratios (medians' ratio when unpaired); None for absolute
        targets other than latency (B6)."""
        paired = Summary.of(self.round_ratios)
        if paired is not None:
            return paired.median
        g, b = Summary.of(self.gate), Summary.of(self.baseline)
        if self.kind == "abs_max" and self.unit != "ms":
            return None
        if g is None or b is None or b.median == 0:
            return None
        return g.median / b.median

    def ratio_text(self) -> str:
        """`0.52x (0.47..0.58)`: the median per-round ratio and its spread."""
        paired = Summary.of(self.round_ratios)
        if paired is not None and paired.n > 1:
            return f"{paired.median:.2f}x ({paired.min:.2f}..{paired.max:.2f})"
        return f"{self.ratio:.2f}x" if self.ratio is not None else "—"

    def _misses(self, values: list[float]) -> int:
        if self.kind == "ratio_min":
            return sum(1 for v in values if v < self.target)
        return sum(1 for v in values if v > self.target)

    def target_text(self) -> str:
        if self.kind == "info":
            return "— (reported)"
        if self.kind == "ratio_min":
            return f">= {self.target:g}x"
        if self.kind == "ratio_max":
            return f"<= {self.target:g}x baseline"
        return f"<= {self.target:g} {self.unit}"

    def decide(self) -> Result:
        """Set `status` from the medians; a row without gate samples stays pending/error."""
        if self.status in ("error",) or not self.gate:
            if self.status != "error":
                self.status = "pending"
            return self
        if self.kind == "info":
            self.status = "info"
            return self
        values = self.gate if self.kind == "abs_max" else self.round_ratios
        if values:  # fail only when most rounds miss
            self.status = "fail" if self._misses(values) * 2 > len(values) else "pass"
            return self
        r = self.ratio
        if r is None:
            self.status = "pending"
        elif self.kind == "ratio_min":
            self.status = "pass" if r >= self.target else "fail"
        else:
            self.status = "pass" if r <= self.target else "fail"
        return self

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        g, b = Summary.of(self.gate), Summary.of(self.baseline)
        out["gate_summary"] = asdict(g) if g else None
        out["baseline_summary"] = asdict(b) if b else None
        out["ratio"] = self.ratio
        out["round_ratios"] = self.round_ratios
        out["target_text"] = self.target_text()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})
