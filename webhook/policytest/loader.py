"""Finding, reading and validating suites, and resolving every path a case names.

Everything that can be wrong with a suite is found here, before any case runs: a malformed
suite is exit 2 with one line per problem naming the file and the field, never a half run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import ValidationError

from webhook.contracts.env import Env
from webhook.contracts.limits import ParseLimits
from webhook.contracts.strict import load_yaml
from webhook.errors import GateError, UsageError
from webhook.pipelines.inputs import CONFIG_FILE, MANIFEST_FILE, REPLICATION_FILE
from webhook.policytest.model import Case, Expect, Suite
from webhook.policytest.yamlpos import compose, line_of, parse_path

MAX_SUITE_BYTES = 1024 * 1024
_LIMITS = ParseLimits(max_bytes=MAX_SUITE_BYTES, max_aliases=0, max_depth=16)
SUFFIXES = (".yaml", ".yml")
#: YAML files a directory walk leaves alone: artifact files inside input folders
ARTIFACT_FILES = frozenset({CONFIG_FILE, REPLICATION_FILE})
MAX_SUITES = 1000

Scenario = Literal["migration", "replication"]


@dataclass(frozen=True)
class Problem:
    file: str
    field: str | None
    message: str
    line: int | None = None

    def line_text(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class SuiteError(GateError):
    """One or more suites are malformed; `problems` lists each with its file and field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(p.line_text() for p in problems))
        self.problems = problems

    def diagnostics(self) -> str:
        return f"{len(self.problems)} problem(s) in the suites:\n" + self.message


@dataclass(frozen=True)
class ResolvedCase:
    """A case with every path resolved and checked; what the runner needs and nothing else."""

    suite_file: str
    index: int
    name: str
    line: int | None
    scenario: Scenario
    env: Env
    bundle: Path | None
    trust_dir: Path | None
    folder: Path | None
    inline: Mapping[str, bytes | None]
    expect: Expect


@dataclass(frozen=True)
class LoadedSuite:
    file: str
    name: str
    cases: tuple[ResolvedCase, ...] = field(default=())


def discover(paths: Iterable[str]) -> list[Path]:
    """Suite files named or found under the directories given (sorted, symlinks not followed).

    In a directory walk, `*.yaml`/`*.yml` files are suites except artifact files (app-config.yaml,
    replication_manifest.yaml) and policy bundles (`kind: PolicyBundle`), which suites name.
    An empty result is an error: running no case is not a pass.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    candidate = Path(root) / name
                    wanted = name.endswith(SUFFIXES) and name not in ARTIFACT_FILES
                    if wanted and not _is_bundle(candidate):
                        found.append(candidate)
        else:
            raise UsageError("no such file or directory", file=raw)
    if not found:
        raise UsageError(f"no suites found in {', '.join(paths)}")
    if len(found) > MAX_SUITES:
        raise UsageError(f"more than {MAX_SUITES} suites")
    return found


def _is_bundle(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(MAX_SUITE_BYTES + 1)
        doc = load_yaml(head, source=str(path), limits=_LIMITS)
    except (OSError, GateError):
        return False  # not readable as a bundle: loaded as a suite, which reports it
    return isinstance(doc, dict) and doc.get("kind") == "PolicyBundle"


def load_suites(paths: Iterable[Path]) -> list[LoadedSuite]:
    """Validate every suite; raise SuiteError listing all problems of all suites."""
    problems: list[Problem] = []
    suites: list[LoadedSuite] = []
    for path in paths:
        suite, found = _load_one(path)
        problems += found
        if suite is not None:
            suites.append(suite)
    if problems:
        raise SuiteError(problems)
    return suites


def _load_one(path: Path) -> tuple[LoadedSuite | None, list[Problem]]:
    source = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SUITE_BYTES + 1)
        doc = load_yaml(data, source=source, limits=_LIMITS)
    except OSError as exc:
        return None, [Problem(source, None, f"cannot read: {exc.strerror}")]
    except GateError as exc:
        return None, [Problem(source, exc.field, exc.message)]
    tree = compose(data.decode("utf-8", "replace"))
    try:
        suite = Suite.model_validate(doc)
    except ValidationError as exc:
        return None, [_problem(source, tree, err["loc"], err["msg"]) for err in exc.errors()]
    base = path.parent
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for i, case in enumerate(suite.cases):
        if case.name in first:
            where = f"cases[{i}].name"
            message = f"duplicate case name {case.name!r} (first at cases[{first[case.name]}])"
            problems.append(Problem(source, where, message, line_of(tree, parse_path(where))))
        first.setdefault(case.name, i)
    cases: list[ResolvedCase] = []
    for i, case in enumerate(suite.cases):
        resolved = _resolve(
            source=source, tree=tree, base=base, suite=suite, case=case, i=i, problems=problems
        )
        if resolved is not None:
            cases.append(resolved)
    if problems:
        return None, problems
    return LoadedSuite(file=source, name=suite.name or path.stem, cases=tuple(cases)), []


def _problem(source: str, tree: yaml.Node | None, loc: tuple[str | int, ...], msg: str) -> Problem:
    parts = [p for p in loc if isinstance(p, int) or not p.startswith(("function-", "list["))]
    where = ""
    for part in parts:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    msg = msg.removeprefix("Value error, ")
    line = line_of(tree, parse_path(where)) if where else None
    return Problem(source, where or None, msg, line)


def _resolve(
    *,
    source: str,
    tree: yaml.Node | None,
    base: Path,
    suite: Suite,
    case: Case,
    i: int,
    problems: list[Problem],
) -> ResolvedCase | None:
    at = f"cases[{i}]"
    line = line_of(tree, ["cases", i])
    before = len(problems)

    def bad(key: str, message: str) -> None:
        where = f"{at}.{key}"
        problems.append(Problem(source, where, message, line_of(tree, parse_path(where))))

    folder = None
    if case.input is not None:
        folder = base / case.input
        if not folder.is_dir():
            bad("input", f"input folder {folder} does not exist (paths are relative to the suite)")
    bundle_text = case.bundle or suite.bundle
    bundle = base / bundle_text if bundle_text else None
    if bundle is not None and not bundle.is_file():
        key = "bundle" if case.bundle else "(suite) bundle"
        bad(key, f"bundle file {bundle} does not exist")
    trust_text = case.trust_dir or suite.trust_dir
    trust = base / trust_text if trust_text else None
    if trust is not None and not trust.is_dir():
        bad("trust_dir", f"trust directory {trust} does not exist")
    inline = {k: (None if v is None else v.encode()) for k, v in (case.inputs or {}).items()}
    scenario = case.scenario
    if scenario is None and len(problems) == before:
        scenario = _infer(folder, inline)
        if scenario is None:
            bad(
                "scenario",
                f"cannot tell migration from replication (needs {MANIFEST_FILE} or "
                f"{REPLICATION_FILE}, not both): set scenario",
            )
    if len(problems) != before or scenario is None:
        return None
    return ResolvedCase(
        suite_file=source,
        index=i,
        name=case.name,
        line=line,
        scenario=scenario,
        env=case.env,
        bundle=bundle,
        trust_dir=trust,
        folder=folder,
        inline=inline,
        expect=case.expect,
    )


def _infer(folder: Path | None, inline: Mapping[str, bytes | None]) -> Scenario | None:
    def has(name: str) -> bool:
        if name in inline:
            return inline[name] is not None
        return folder is not None and (folder / name).is_file()

    t1, t2 = has(MANIFEST_FILE), has(REPLICATION_FILE)
    if t1 == t2:
        return None
    return "migration" if t1 else "replication"
