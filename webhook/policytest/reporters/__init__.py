"""Renderers of suite results: one module per format, each a `render(results) -> str`."""

from __future__ import annotations

from collections.abc import Callable

from webhook.policytest.reporters import json_report, junit, sarif, text
from webhook.policytest.runner import SuiteResult

FORMATS: dict[str, Callable[[list[SuiteResult]], str]] = {
    "text": text.render,
    "json": json_report.render,
    "junit": junit.render,
    "sarif": sarif.render,
}

__all__ = ["FORMATS"]
