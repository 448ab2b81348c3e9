"""`policy lint`: every problem of a bundle, named by file, field and line, without running it.

The bundle loader stops at the first error (a gate must not start on a half-understood
bundle); lint wants them all. So each entry is loaded on its own through the same
`load_bundle` (its check, params, actions and CEL compile are the loader's, not a copy),
ids reused are found across entries, and a bundle whose entries all pass is loaded whole and
handed to the Engine, which refuses a bundle without signature-required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from webhook.contracts.strict import load_yaml
from webhook.errors import GateError, UsageError
from webhook.integrity import TrustStore
from webhook.pipelines import Engine
from webhook.policies import MAX_BUNDLE_BYTES, PolicyBundle, load_bundle
from webhook.policies.bundle import API_VERSION, KIND, MAX_POLICIES
from webhook.policytest.yamlpos import compose, line_of, parse_path

_LIMIT_SLACK = 1
_FIRST = re.compile(r"^policies\[0\]")


@dataclass(frozen=True)
class Finding:
    field: str | None
    message: str
    line: int | None = None

    def text(self, file: str) -> str:
        where = file + (f":{self.line}" if self.line else "")
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class LintResult:
    file: str
    findings: tuple[Finding, ...]
    bundle: PolicyBundle | None

    @property
    def ok(self) -> bool:
        return not self.findings


def read_bundle_file(path: Path) -> bytes:
    """The file's bytes (limit + 1, so oversize is a finding); UsageError when unreadable."""
    try:
        with path.open("rb") as fh:
            return fh.read(MAX_BUNDLE_BYTES + _LIMIT_SLACK)
    except FileNotFoundError:
        raise UsageError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise UsageError("is a directory, expected a bundle file", file=str(path)) from None
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror}", file=str(path)) from None


def lint_bundle(data: bytes, *, source: str) -> LintResult:
    try:
        bundle = load_bundle(data, source=source)
    except GateError as exc:
        first = exc
        bundle = None
    if bundle is not None:
        try:
            Engine(bundle, TrustStore.empty(), cache_entries=0)
        except GateError as exc:
            return LintResult(source, (Finding(exc.field, exc.message),), None)
        return LintResult(source, (), bundle)
    tree = compose(data.decode("utf-8", "replace"))
    findings = _entries(data, source, tree)
    if findings is None:  # not a bundle document at all: the loader's own first error
        findings = [Finding(first.field, first.message, _line(tree, first.field))]
    return LintResult(source, tuple(findings), None)


def _line(tree: yaml.Node | None, where: str | None) -> int | None:
    return line_of(tree, parse_path(where)) if where else None


def _entries(data: bytes, source: str, tree: yaml.Node | None) -> list[Finding] | None:
    """Each entry's own first error, and ids reused; None when the top level is unusable."""
    try:
        doc = load_yaml(data, source=source)
    except GateError:
        return None
    if not isinstance(doc, dict) or set(doc) != {"apiVersion", "kind", "policies"}:
        return None
    if doc["apiVersion"] != API_VERSION or doc["kind"] != KIND:
        return None
    entries = doc["policies"]
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_POLICIES:
        return None
    findings: list[Finding] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"policies[{i}]"
        pid = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(pid, str):
            if pid in seen:
                findings.append(
                    Finding(
                        f"{where}.id",
                        f"duplicate policy id {pid!r} (first at policies[{seen[pid]}])",
                        _line(tree, f"{where}.id"),
                    )
                )
            seen.setdefault(pid, i)
        error = _entry_error(doc, entry, source)
        if error is not None:
            field = _FIRST.sub(where, error.field) if error.field else where
            findings.append(Finding(field, error.message, _line(tree, field)))
    if not findings:
        # every entry passes alone and no id repeats: a whole-bundle rule refused it
        return None
    return findings


def _entry_error(doc: dict[str, Any], entry: Any, source: str) -> GateError | None:
    single = yaml.safe_dump({**doc, "policies": [entry]}, sort_keys=False).encode()
    try:
        load_bundle(single, source=source)
    except GateError as exc:
        return exc
    return None
