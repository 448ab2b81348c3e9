"""Every regex on untrusted input is linear (issue 11: super-linear work on attacker input).

A 40 KB value once took seconds in a secrets regex (quadratic: a scheme pattern restarted at
every `-` of `xoxa-xoxa-...`), holding the GIL for every listener. Proven by size-doubling: the
time of 2n over the time of n stays well under 4 (what a quadratic gives), never a wall clock.
Each time is the best of interleaved runs with the collector off, and a high ratio is measured
again before it counts, so a busy machine does not fail a linear pattern; a quadratic one
fails every time.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import pkgutil
import re
import time
from collections.abc import Callable

import pytest

import webhook
from tests.unit.policies.conftest import good_config, run_t1
from webhook.contracts.decision import Reason
from webhook.pipelines import Engine, MigrationInputs

MAX_RATIO = 3.0
N = 32_768
#: repeated units that drive backtracking in one pattern family or another
UNITS = [
    "a", "A", "1", "-", " ", "\t", ".", "a-", "a=", "a:", "a.", "a://a:", "xoxa-", "-eyJ",
    "ghp_", "AKIA", "'a", '"a', "\\'", "aaa1Q~", "1:A", "-BEGIN a ", "bearer ", "0x0.", "a?b=",
    "pass=", "--a", "a@", "%",
]  # fmt: skip


def _once(fn: Callable[[], object]) -> float:
    """CPU time of this thread: time spent descheduled by a busy neighbour does not count."""
    gc.disable()
    try:
        start = time.thread_time()
        fn()
        return time.thread_time() - start
    finally:
        gc.enable()


def doubling_ratio(work: Callable[[int], Callable[[], object]], n: int = N) -> float:
    """time(2n) / time(n) of `work(size)()`: the best of interleaved runs, so a burst of load
    from a neighbour hits both sizes alike; re-measured while it is high (a quadratic stays
    near 4 however often it is measured, a linear pattern under noise does not)."""
    small, large = work(n), work(2 * n)
    ratio = float("inf")
    for _ in range(3):
        t_small = t_large = float("inf")
        for _ in range(3):
            t_small = min(t_small, _once(small))
            t_large = min(t_large, _once(large))
        ratio = t_large / max(t_small, 1e-9)
        if ratio < MAX_RATIO:
            break
    return ratio


def _text(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size] + "!"


def _flat(value: object) -> list[re.Pattern[str] | re.Pattern[bytes]]:
    """A pattern, or the patterns in a module-level table (tuples of (label, pattern)...)."""
    if isinstance(value, re.Pattern):
        return [value]
    if isinstance(value, tuple | list | frozenset):
        return [p for item in value for p in _flat(item)]
    return []


def _module_patterns() -> list[tuple[str, re.Pattern[str] | re.Pattern[bytes]]]:
    """Every compiled pattern at module level anywhere in webhook/ (the audit, automated)."""
    found: dict[int, tuple[str, re.Pattern[str] | re.Pattern[bytes]]] = {}
    for info in pkgutil.walk_packages(webhook.__path__, "webhook."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            for i, item in enumerate(_flat(value)):
                found.setdefault(id(item), (f"{info.name}.{name}" + (f"[{i}]" if i else ""), item))
    return sorted(found.values(), key=lambda item: item[0])


PATTERNS = _module_patterns()


def test_the_audit_sees_the_secrets_patterns() -> None:
    names = {name for name, _ in PATTERNS}
    assert len(PATTERNS) > 15
    assert any(".secrets" in n or ".secret_shapes" in n for n in names)


@pytest.mark.parametrize(("name", "pattern"), PATTERNS, ids=[n for n, _ in PATTERNS])
def test_every_module_regex_in_webhook_is_linear(
    name: str, pattern: re.Pattern[str] | re.Pattern[bytes]
) -> None:
    """finditer scans the whole input (the most work any caller can ask of a pattern)."""
    for unit in UNITS:

        def work(size: int, unit: str = unit) -> Callable[[], object]:
            text = _text(unit, size)
            data: str | bytes = text.encode("latin-1", "replace") if isinstance(
                pattern.pattern, bytes
            ) else text  # fmt: skip

            def run() -> int:
                return sum(1 for _ in pattern.finditer(data))  # type: ignore[arg-type]

            return run

        ratio = doubling_ratio(work, N // 4)
        assert ratio < MAX_RATIO, f"{name} on {unit!r}*n: time(2n)/time(n) = {ratio:.1f}"


@pytest.mark.parametrize("unit", ["xoxa-", "a://a:", "a-", "-eyJ", "a=", "pass=", "'a"])
def test_no_inline_secrets_is_linear_in_a_value(unit: str) -> None:
    def work(size: int) -> Callable[[], object]:
        cfg = {**good_config(), "notes": _text(unit, size), "db": {_text(unit, size): 1}}
        return lambda: run_t1(cfg, "prod")

    assert doubling_ratio(work) < MAX_RATIO


def test_the_engine_is_linear_in_a_hostile_config_value() -> None:
    """The issue's case: a long value through Engine.validate_migration, parse to reasons.

    A fresh Engine per run, so its input cache never answers instead of the parser.
    """

    def work(size: int) -> Callable[[], object]:
        config = (
            "app_id: payments\nenv: prod\nsecrets_ref: vault://kv/x\n"
            f"notes: '{_text('a-', size)}'\nbind: '{_text('a://a:', size)}'\n"
        ).encode()
        manifest = json.dumps(
            {
                "app_id": "payments",
                "env": "prod",
                "version": _text("ghp_", size // 8),
                "config_sha256": hashlib.sha256(config).hexdigest(),
            }
        ).encode()
        inputs = MigrationInputs(manifest=manifest, config=config)
        return lambda: Engine.load().validate_migration(inputs)

    assert doubling_ratio(work) < MAX_RATIO


@pytest.mark.parametrize("unit", ["xoxa-", "a://a:", "'a", "\\'", "found 'a", "a=b "])
def test_building_a_reason_is_linear_in_its_message(unit: str) -> None:
    def work(size: int) -> Callable[[], object]:
        text = _text(unit, size)
        return lambda: Reason(policy="p", severity="high", field=text, message=text, file=text)

    assert doubling_ratio(work) < MAX_RATIO
