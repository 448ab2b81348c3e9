"""Samples, targets and verdicts: the one place that decides pass/fail for every benchmark.

A benchmark yields samples of the gate and of its baseline taken in alternating order (A/B
interleaved), so drift in the shared machine's load hits both sides alike. The verdict uses the
medians only; min and max are reported so a reader can see how noisy the run was.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: ratio_min: gate/baseline must be >= target (throughput); ratio_max: gate/baseline <= target
#: (latency); abs_max: the gate figure itself must be <= target (RSS growth, p99 latency).
TargetKind = Literal["ratio_min", "ratio_max", "abs_max"]
Status = Literal["pass", "fail", "pending", "error"]


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
    def ratio(self) -> float | None:
        """gate/baseline medians; None for absolute targets other than latency (B6)."""
        g, b = Summary.of(self.gate), Summary.of(self.baseline)
        if self.kind == "abs_max" and self.unit != "ms":
            return None
        if g is None or b is None or b.median == 0:
            return None
        return g.median / b.median

    def target_text(self) -> str:
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
        if self.kind == "abs_max":
            g = Summary.of(self.gate)
            assert g is not None
            self.status = "pass" if g.median <= self.target else "fail"
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
        out["target_text"] = self.target_text()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in names})
