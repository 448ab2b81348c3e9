"""Every cross-reference in README.md and docs/*.md resolves, and the docs stand alone.

A relative link must name a file that exists and, with `#anchor`, a heading in it (GitHub's
slugs); a module path a doc names (`webhook/...py`) must exist; docs/architecture.md's dotted
names (`webhook.server.admission`, `webhook.audit.migrate.migrate`) must import, and its bare
file names (`store.py`, `archive/`) must exist in the package its line names (else anywhere in
webhook/); no doc may send the reader to material outside the repository (the design notes,
"spec section N").
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_HTML_ID = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")
_MODULE = re.compile(r"(?<![\w/.-])(webhook/[\w./-]*?\.py)\b")
ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: a dotted name under webhook (`webhook.server.admission`, `webhook.audit.migrate.migrate`)
_DOTTED = re.compile(r"(?<![\w./-])(webhook(?:\.[A-Za-z_]\w*)+)")
#: in inline code: a package directory (`webhook/audit/`) or a bare name (`store.py`, `checks/`)
_PACKAGE = re.compile(r"`(webhook/(?:[\w-]+/)*)`")
_BARE = re.compile(r"`([\w-]+(?:\.py|/))`")
FORBIDDEN = [
    re.compile(r"\.\./shared"),
    re.compile(r"DESIGN\.md"),
    re.compile(r"spec section", re.I),
    re.compile(r"\bDESIGN\b"),
]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (links there are not links)."""
    return _CODE.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N", "M"))
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out: set[str] = set(_HTML_ID.findall(text))
    for heading in _HEADING.findall(text):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    return _LINK.findall(prose(path.read_text(encoding="utf-8")))


def test_slug_matches_github() -> None:
    assert slug("Target env: the namespace decides") == "target-env-the-namespace-decides"
    assert slug("migration_manifest.json") == "migration_manifestjson"
    assert slug("Output: `--output text|json|junit|sarif`") == "output---output-textjsonjunitsarif"


def test_the_checker_finds_a_broken_link(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# Title\n\n[ok](#title) [bad](#nope) `[code](#x)`\n```\n[f](#y)\n```\n")
    assert links(doc) == ["#title", "#nope"]
    assert anchors(doc) == {"title"}


def test_there_are_docs() -> None:
    names = {p.name for p in DOCS}
    assert {"README.md", "architecture.md", "contracts.md", "artifacts.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_relative_links_resolve(doc: Path) -> None:
    broken: list[str] = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: {_rel(dest) if dest.is_relative_to(ROOT) else dest} missing")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {_rel(dest)}")
    assert not broken, f"{_rel(doc)}:\n  " + "\n  ".join(broken)


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_named_modules_exist(doc: Path) -> None:
    named = set(_MODULE.findall(doc.read_text(encoding="utf-8")))
    missing = sorted(m for m in named if not (ROOT / m).is_file())
    assert not missing, f"{_rel(doc)} names modules that do not exist: {missing}"


def unresolved_dotted(text: str) -> list[str]:
    """Dotted names in `text` that are neither a module nor an attribute chain of one."""
    missing: list[str] = []
    for name in sorted(set(_DOTTED.findall(text))):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                target: object = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                target = getattr(target, attr, None)
            if target is None:
                missing.append(name)
            break
        else:
            missing.append(name)
    return missing


def unresolved_bare(text: str, root: Path = ROOT) -> list[str]:
    """Bare file names (`store.py`, `archive/`) that are not in the package their line names
    (the last `webhook/.../` before them), or, on a line naming none, nowhere under webhook/."""
    missing: list[str] = []
    for number, line in enumerate(_FENCE.sub("", text).splitlines(), start=1):
        spans = sorted(
            [(m.start(), "package", m.group(1)) for m in _PACKAGE.finditer(line)]
            + [(m.start(), "bare", m.group(1)) for m in _BARE.finditer(line)]
        )
        package: str | None = None
        for _at, kind, name in spans:
            if kind == "package":
                package = name
                continue
            bare = name.rstrip("/")
            if package is not None:
                found = (root / package / name).exists()
            else:
                found = any(p.name == bare for p in (root / "webhook").rglob(bare))
            if not found:
                missing.append(f"line {number}: {name} (in {package or 'webhook/'})")
    return missing


def test_the_architecture_checker_finds_a_missing_module(tmp_path: Path) -> None:
    (tmp_path / "webhook" / "audit").mkdir(parents=True)
    (tmp_path / "webhook" / "audit" / "store.py").write_text("")
    text = "| `webhook/audit/` | (`store.py`, `gone.py`) |\nloose `store.py` and `nope/`\n"
    assert unresolved_bare(text, tmp_path) == [
        "line 1: gone.py (in webhook/audit/)",
        "line 2: nope/ (in webhook/)",
    ]
    assert unresolved_dotted(
        "`webhook.audit.store.AuditStore`, webhook.audit.migrate.migrate, "
        "`webhook.server.nowhere`, webhook.audit.store.no_such_thing."
    ) == ["webhook.audit.store.no_such_thing", "webhook.server.nowhere"]


def test_architecture_names_only_modules_that_exist() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = unresolved_dotted(text) + unresolved_bare(text)
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_docs_stand_alone(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    hits = [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
        for rx in FORBIDDEN
        for m in rx.finditer(text)
    ]
    assert not hits, f"{_rel(doc)} points outside the repository: {hits}"
