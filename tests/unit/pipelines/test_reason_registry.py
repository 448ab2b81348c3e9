"""One registry of the gate's own reason ids, used by every raiser (issue 11).

The scan reads every module of the package, so an id raised anywhere (a `policy=` keyword, a
`block(...)`/`builtin_reason(...)` call, a GateError subclass's `policy`, an archive check) and
missing from webhook/contracts/reasons.py fails here, not in production.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

import webhook
from webhook.contracts.reasons import BUILTIN_REASONS, builtin_reason
from webhook.integrity import ArchiveCheck
from webhook.policies import REGISTRY, default_bundle

PACKAGE = Path(webhook.__file__).resolve().parent
RAISERS = {"block", "builtin_reason", "_block", "_wal_block"}


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _callee(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def raised_ids(tree: ast.AST) -> set[tuple[str, int]]:
    """(id, line) of every reason id literal this module raises or declares."""
    out: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "policy" and (v := _literal(kw.value)) is not None:
                    out.add((v, node.lineno))
            if _callee(node) in RAISERS and node.args and (v := _literal(node.args[0])):
                out.add((v, node.lineno))
            if _callee(node) == "ArchiveFinding" and node.args and (v := _literal(node.args[0])):
                out.add((v, node.lineno))
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets: list[ast.expr] = []
                value: ast.expr | None = None
                if isinstance(stmt, ast.Assign):
                    targets, value = stmt.targets, stmt.value
                elif isinstance(stmt, ast.AnnAssign):
                    targets, value = [stmt.target], stmt.value
                for t in targets:
                    if isinstance(t, ast.Name) and t.id == "policy" and (v := _literal(value)):
                        out.add((v, stmt.lineno))
        elif (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id.endswith("_POLICY") for t in node.targets)
            and (v := _literal(node.value)) is not None
        ):
            out.add((v, node.lineno))  # a named reason id, e.g. audit/bound.OMITTED_POLICY
        elif isinstance(node, ast.Dict):
            for k, v_node in zip(node.keys, node.values, strict=True):
                if _literal(k) == "policy" and (v := _literal(v_node)) is not None:
                    out.add((v, node.lineno))
    return out


def scan() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for rid, line in raised_ids(tree):
            found.setdefault(rid, []).append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return found


def test_every_raised_id_is_registered() -> None:
    found = scan()
    policy_ids = {p.id for p in default_bundle().policies} | set(REGISTRY.names())
    missing = {rid: where for rid, where in found.items() if rid not in BUILTIN_REASONS}
    # a policy id (from the bundle) is not a built-in; nothing in webhook/ may raise one literally
    assert missing == {}, f"register these in webhook/contracts/reasons.py: {missing}"
    assert not (set(found) & policy_ids - set(BUILTIN_REASONS))


def test_the_scan_sees_every_kind_of_raiser() -> None:
    """Not vacuous: ids known to be raised each way are found where they are raised."""
    found = scan()
    for rid in (
        "snapshot-not-hashed",  # Reason(policy=...) in a door
        "deadline-exceeded",  # GateError subclass and block(...)
        "wal-integrity",  # _wal_block(...)
        "trust-store-empty",  # builtin_reason(...)
        "input-invalid",  # class attribute
        "audit-reasons-omitted",  # a module constant named *_POLICY
    ):
        assert rid in found, rid


def test_archive_checks_are_registered() -> None:
    assert set(get_args(ArchiveCheck)) <= set(BUILTIN_REASONS)


def test_the_admission_notice_is_registered() -> None:
    # the one id that only ever annotates (server/objects.py: a file:// snapshot not hashed)
    assert "snapshot-not-hashed" in BUILTIN_REASONS


def test_builtin_reason_refuses_an_unregistered_id() -> None:
    with pytest.raises(ValueError, match="not registered"):
        builtin_reason("made-up", "x")
    assert builtin_reason("env-mismatch", "x", field="env").policy == "env-mismatch"


def test_scanner_catches_an_unregistered_raiser() -> None:
    src = (
        "report.block('no-such-id', 'm')\n"
        "Reason(policy='other-id', severity='high', field='', message='')\n"
        "class E(GateError):\n    policy = 'third-id'\n"
        "x = {'policy': 'fourth-id'}\n"
        "OMITTED_POLICY = 'fifth-id'\n"
    )
    assert {rid for rid, _ in raised_ids(ast.parse(src))} == {
        "no-such-id",
        "other-id",
        "third-id",
        "fourth-id",
        "fifth-id",
    }
