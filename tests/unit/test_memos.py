"""Every memo in webhook/ is bounded and says in one line what it saves, measured.

A memo is a place where a stale result can hide, so each one must earn its place: the line
above it is `# memo: ...` naming its bound and the measured saving (docs/architecture.md,
"Rules the code keeps"). `functools.lru_cache` must have a finite maxsize; `functools.cache`
(unbounded) is only allowed for a one-entry memo of a function without arguments.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

WEBHOOK = Path(__file__).resolve().parents[2] / "webhook"
MEASURED = re.compile(r"#\s*memo:.*(measured|\d)")


def _memo_decorators(tree: ast.AST) -> list[tuple[ast.FunctionDef, ast.expr]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                name = ast.unparse(target)
                if name in ("functools.lru_cache", "lru_cache", "functools.cache", "cache"):
                    found.append((node, dec))
    return found


def test_every_memo_is_bounded_and_annotated() -> None:
    problems: list[str] = []
    seen = 0
    for path in sorted(WEBHOOK.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for fn, dec in _memo_decorators(ast.parse(text)):
            seen += 1
            where = f"{path.relative_to(WEBHOOK.parent)}:{fn.lineno} {fn.name}"
            first = min(d.lineno for d in fn.decorator_list)
            above = lines[first - 2] if first >= 2 else ""
            if not MEASURED.search(above):
                problems.append(f"{where}: no '# memo: ... measured ...' line above it")
            if isinstance(dec, ast.Call):
                size = next((k.value for k in dec.keywords if k.arg == "maxsize"),
                            dec.args[0] if dec.args else None)  # fmt: skip
                if not isinstance(size, ast.Constant) or not isinstance(size.value, int):
                    problems.append(f"{where}: lru_cache needs a literal, finite maxsize")
            elif fn.args.args or fn.args.kwonlyargs or fn.args.vararg or fn.args.kwarg:
                problems.append(f"{where}: functools.cache is unbounded; use lru_cache(maxsize=N)")
    assert seen >= 8, "the scan found no memos: the check itself is broken"
    assert problems == []


def test_the_check_catches_an_unannotated_unbounded_memo() -> None:
    bad = ast.parse("import functools\n@functools.cache\ndef f(x):\n    return x\n")
    [(fn, dec)] = _memo_decorators(bad)
    assert fn.name == "f" and not isinstance(dec, ast.Call) and fn.args.args
