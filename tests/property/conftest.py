"""Hypothesis profiles: `ci` (the default, fixed budget, derandomised) and `fuzz` (longer).

`derandomize=True` makes every run explore the same examples, so a failure in CI reproduces
locally; hypothesis prints the falsifying example and a `@reproduce_failure` blob on failure.
Pick a profile with HYPOTHESIS_PROFILE=fuzz (what `make fuzz` does).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "print_blob": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("fuzz", max_examples=2000, derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
