"""CEL policies: compile a bundle's `expression` once, evaluate it per request, fail closed.

The library is `common-expression-language` (Rust-backed; see docs/policies.md for why). It has
no type checker and no cost limit, so this module adds both at load time: an expression may name
only the variables of its scenarios and the standard functions, is at most
`MAX_EXPRESSION_CHARS` long and nests comprehensions at most `MAX_COMPREHENSION_DEPTH` deep, so
one evaluation is bounded by the (already size-limited) inputs to that power. Values handed to CEL
are converted here first: a value CEL cannot represent exactly (an integer past 64 bits) is an
evaluation error, never a silently rounded double.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import cel

from webhook.contracts.decision import Scenario

#: the variables each scenario gives an expression
VARIABLES: Mapping[Scenario, frozenset[str]] = {
    "T1": frozenset({"config", "manifest", "subject", "env"}),
    "T2": frozenset({"manifest", "archive", "statement", "subject", "env"}),
}
MAX_EXPRESSION_CHARS = 2048
#: comprehensions (all/exists/exists_one/map/filter) inside one another; 2 = O(n^2) at worst
MAX_COMPREHENSION_DEPTH = 2
#: a messageExpression's string is cut here (then redacted like every reason)
MAX_MESSAGE_CHARS = 512
#: nodes of the converted inputs (the parsers already bound them; this is a second fence)
MAX_ACTIVATION_NODES = 200_000
_MAX_DETAIL = 200
_INT64 = (-(2**63), 2**63 - 1)

_MACROS = ("all", "exists", "exists_one", "map", "filter")
#: CEL's standard functions this library implements (operators are `_x_`, `!_`, `-_`, `@...`)
_FUNCTIONS = frozenset(
    {
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "timestamp",
        "duration",
        "type",
        "dyn",
        "has",
        *_MACROS,
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfYear",
        "getDayOfWeek",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
    }
)
#: type names an expression may compare with `type(x) == int`
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type"}
    | {"timestamp", "duration"}
)
_BOUND = re.compile(r"\.\s*(?:" + "|".join(_MACROS) + r")\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")
_MACRO_CALL = re.compile(r"\.\s*(?:" + "|".join(_MACROS) + r")\s*\(")
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(?:Syntax error:\s*)?(.*)")


class CelCompileError(ValueError):
    """An expression that cannot be compiled or names something that does not exist."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.message = message
        self.line = line
        self.column = column


class CelEvalError(RuntimeError):
    """An evaluation that raised, or returned something other than what the policy needs."""


@dataclass(frozen=True)
class CelProgram:
    """One compiled expression and the variables it reads (checked against its scenarios)."""

    source: str
    program: cel.Program
    variables: frozenset[str]

    def run(self, activation: cel.Context) -> Any:
        """The expression's value; raises CelEvalError (never anything else) when it fails."""
        try:
            return self.program.execute(activation)
        except Exception as exc:  # the library raises KeyError/TypeError/OverflowError/...
            raise CelEvalError(_detail(exc)) from None

    def run_bool(self, activation: cel.Context) -> bool:
        value = self.run(activation)
        if not isinstance(value, bool):
            raise CelEvalError(f"the expression must give a bool, it gave {_cel_kind(value)}")
        return value

    def run_string(self, activation: cel.Context) -> str:
        value = self.run(activation)
        if not isinstance(value, str):
            raise CelEvalError(f"messageExpression must give a string, it gave {_cel_kind(value)}")
        return value[:MAX_MESSAGE_CHARS]


def _detail(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return f"no such key {' '.join(str(exc.args[0]).split())[:_MAX_DETAIL]!r}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:_MAX_DETAIL]}"


def _cel_kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "bool", int: "int", float: "double", str: "string", bytes: "bytes"}
    names |= {list: "list", dict: "map"}
    return names.get(type(value), type(value).__name__)


def _blank_strings(source: str) -> str:
    """The source with every string literal's body blanked (positions kept), in one pass.

    A scanner, not a regex: a regex for CEL's four quote forms backtracks quadratically on
    runs of escaped quotes.
    """
    out = list(source)
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch not in "'\"":
            i += 1
            continue
        quote = source[i : i + 3] if source[i : i + 3] in ("'''", '"""') else ch
        raw = i > 0 and source[i - 1] in "rR"
        j = i + len(quote)
        while j < n and not source.startswith(quote, j):
            if source[j] == "\\" and not raw:
                out[j] = " "
                j += 1
            if j < n:
                out[j] = " " if source[j] != "\n" else "\n"
            j += 1
        i = j + len(quote)
    return "".join(out)


def _line_col(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _comprehension_depth(code: str) -> tuple[int, int]:
    """(deepest comprehension nesting, offset where it is reached) of string-blanked code."""
    opens = {m.end() - 1 for m in _MACRO_CALL.finditer(code)}
    stack: list[bool] = []
    depth = deepest = 0
    at = 0
    for i, ch in enumerate(code):
        if ch in "([{":
            macro = i in opens
            stack.append(macro)
            if macro:
                depth += 1
                if depth > deepest:
                    deepest, at = depth, i
        elif ch in ")]}" and stack and stack.pop():
            depth -= 1
    return deepest, at


def _first_use(source: str, code: str, name: str) -> tuple[int | None, int | None]:
    """(line, column) of the first `name` not after a '.', or (None, None)."""
    found = re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", code) or re.search(
        rf"(?<!\w){re.escape(name)}(?!\w)", code
    )
    if found is None:
        return None, None
    return _line_col(source, found.start())


def compile_expression(source: str, *, scenarios: Collection[Scenario]) -> CelProgram:
    """Compile once, at bundle load; raises CelCompileError with the line and column."""
    if len(source) > MAX_EXPRESSION_CHARS:
        raise CelCompileError(
            f"is {len(source)} characters; at most {MAX_EXPRESSION_CHARS} (cost bound)"
        )
    code = _blank_strings(source)
    depth, at = _comprehension_depth(code)
    if depth > MAX_COMPREHENSION_DEPTH:
        line, col = _line_col(source, at)
        raise CelCompileError(
            f"nests comprehensions {depth} deep; at most {MAX_COMPREHENSION_DEPTH} (cost bound)",
            line=line,
            column=col,
        )
    import cel  # noqa: PLC0415  (lazy: the library loads its own CLI, ~0.13 s at every start)

    try:
        program = cel.compile(source)
    except Exception as exc:  # the parser reports "<input>:LINE:COL: Syntax error: ..."
        found = _POSITION.search(str(exc))
        if found is None:
            raise CelCompileError(f"does not compile: {_detail(exc)}") from None
        message = found.group(3).strip()[:_MAX_DETAIL]
        raise CelCompileError(
            f"syntax error: {message}", line=int(found.group(1)), column=int(found.group(2))
        ) from None
    available = frozenset.intersection(*(VARIABLES[s] for s in scenarios))
    bound = set(_BOUND.findall(code))
    used = frozenset(program.variables()) - bound - _TYPE_NAMES
    for name in sorted(used - available):
        ln, cl = _first_use(source, code, name)
        scen = "/".join(sorted(scenarios))
        raise CelCompileError(
            f"undeclared variable {name!r} (a {scen} policy has {', '.join(sorted(available))})",
            line=ln,
            column=cl,
        )
    for fn in program.functions():
        if fn.startswith(("_", "!", "-", "@")) or fn in _FUNCTIONS:
            continue
        ln, cl = _first_use(source, code, fn)
        raise CelCompileError(f"unknown function {fn!r}", line=ln, column=cl)
    return CelProgram(source=source, program=program, variables=used & available)


def activation(values: Mapping[str, Any]) -> cel.Context:
    """A CEL context of plain values; raises CelEvalError for a value CEL cannot hold exactly."""
    import cel  # noqa: PLC0415  (lazy, as in compile_expression)

    budget = [MAX_ACTIVATION_NODES]
    return cel.Context(
        variables={name: _plain(value, name, budget) for name, value in values.items()}
    )


def _plain(value: Any, where: str, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise CelEvalError(f"the inputs have more than {MAX_ACTIVATION_NODES} values")
    if value is None or isinstance(value, bool | str | float | bytes):
        return value
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise CelEvalError(f"{where} is an integer beyond CEL's 64-bit int")
        return value
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise CelEvalError(f"{where} has a key of type {type(key).__name__}")
            out[key] = _plain(item, f"{where}.{key}", budget)
        return out
    if isinstance(value, Iterable):
        return [_plain(item, f"{where}[{i}]", budget) for i, item in enumerate(value)]
    raise CelEvalError(f"{where} is a {type(value).__name__}, which CEL cannot hold")
