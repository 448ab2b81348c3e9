"""Jinja2 templates with autoescaping always on, and the page response every view returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from webhook.ui.security import harden

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ts"] = short_ts
    return env


def short_ts(value: str | None) -> str:
    """`2026-12-02T15:15:31.757224Z` -> `2026-12-02 15:15:31Z` (the record keeps the full)."""
    if not value:
        return ""
    head, _, rest = value.partition("T")
    if not rest:
        return value
    clock = rest.split(".")[0].rstrip("Z")
    return f"{head} {clock}Z"


class Renderer:
    """Renders a template into a hardened HTML response (CSP, no-store, nosniff)."""

    def __init__(self) -> None:
        self.env = environment()

    def page(
        self,
        template: str,
        context: dict[str, Any],
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(**context)
        response = HTMLResponse(html, status_code=status, headers=headers)
        return harden(response)  # type: ignore[return-value]
