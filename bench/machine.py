"""What the numbers were measured on, recorded next to every run (ratios travel, seconds don't)."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def info() -> dict[str, str]:
    load = os.getloadavg()
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count() or 0),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_at_start": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def short(m: dict[str, str]) -> str:
    return f"{m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}"
