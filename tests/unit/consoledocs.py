"""The `$ command` / output blocks of a Markdown doc, for tests that run its examples."""

from __future__ import annotations

import re
from pathlib import Path


def console_blocks(doc: Path) -> list[str]:
    """The bodies of the doc's ```console fences, in order."""
    return re.findall(r"```console\n(.*?)```", doc.read_text(), flags=re.S)


def commands(block: str) -> list[tuple[str, list[str]]]:
    """Each `$ ` line of a block with the output lines shown under it."""
    out: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out
