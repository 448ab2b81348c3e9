"""The parser vocabulary every command module shares: one `Parser` class and the common options.

`Parser` refuses abbreviated flags and remembers its commands and options as it builds them, so
`completion` can generate a script from the very parser `main` uses, without argparse privates.
Nothing here imports the engine: building the whole parser must stay cheap (`--version`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

EXIT_OK, EXIT_BLOCK, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Option:
    """What completion needs to know of one argument."""

    flags: tuple[str, ...]  # empty for a positional
    choices: tuple[str, ...] = ()
    takes_value: bool = True
    kind: str = ""  # "file", "dir" or "" (free text)
    help: str = ""


@dataclass
class Node:
    """One command level: its options and its sub-commands, in the order they were added."""

    options: list[Option] = field(default_factory=list)
    commands: dict[str, Parser] = field(default_factory=dict)


#: metavars that name a path: completion offers files (or directories) for them
_KINDS = dict.fromkeys(("FILE", "PATH|URL", "PREFIX", "ENVELOPE"), "file") | dict.fromkeys(
    ("DIR", "STATE_DIR"), "dir"
)


class Commands(Protocol):
    """What a command module needs of `add_subparsers()`'s result (argparse's or ours)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that refuses abbreviations and records what it holds (`node`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        self.node = Node()  # before super(): it adds -h/--help through add_argument
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        kind = _KINDS.get(str(action.metavar or "").split(".")[0], "")
        choices = tuple(str(c) for c in action.choices or ())
        takes_value = action.nargs != 0
        flags = tuple(action.option_strings)
        self.node.options.append(Option(flags, choices, takes_value, kind, str(action.help or "")))
        return action

    def add_commands(self, *, dest: str, metavar: str, title: str = "commands") -> SubCommands:
        """`add_subparsers(required=True)` whose children are `Parser`s recorded in `node`."""
        action = self.add_subparsers(dest=dest, metavar=metavar, title=title, required=True)
        return SubCommands(self, action)


class SubCommands:
    """Wraps the action `add_subparsers` returns; only its public `add_parser` is used."""

    def __init__(self, owner: Parser, action: Commands) -> None:
        self._owner, self._action = owner, action

    def add_parser(self, name: str, **kwargs: Any) -> Parser:
        kwargs.setdefault("allow_abbrev", False)
        if "help" in kwargs:
            kwargs.setdefault("description", kwargs["help"])
        child = self._action.add_parser(name, **kwargs)
        if not isinstance(child, Parser):  # parser_class defaults to the owner's class
            raise TypeError(f"{name}: sub-parser is not a Parser")
        self._owner.node.commands[name] = child
        return child


def env_default(name: str) -> str | None:
    return os.environ.get(name) or None


def add_output(parser: argparse.ArgumentParser, choices: Sequence[str] = ("text", "json")) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=tuple(choices),
        default=choices[0],
        help=f"output format (default: {choices[0]})",
    )


def add_policy(parser: argparse.ArgumentParser, *, from_env: bool = True) -> None:
    parser.add_argument(
        "--policy",
        default=env_default("MIGRATION_GATE_POLICY") if from_env else None,
        metavar="FILE",
        help="policy bundle YAML (env MIGRATION_GATE_POLICY; default: the built-in bundle)",
    )


def add_trust_dir(parser: argparse.ArgumentParser, *, from_env: bool = True) -> None:
    parser.add_argument(
        "--trust-dir",
        default=env_default("MIGRATION_GATE_TRUST_DIR") if from_env else None,
        metavar="DIR",
        help="directory of trusted PEM public keys (env MIGRATION_GATE_TRUST_DIR)",
    )


AUDIT_DB_ENV = "MIGRATION_GATE_AUDIT_DB"
STATE_DIR_ENV = "MIGRATION_GATE_STATE_DIR"


def add_audit_db(parser: argparse.ArgumentParser, what: str) -> None:
    """`--audit-db`; None means "the default store", resolved when the command runs."""
    parser.add_argument(
        "--audit-db",
        default=None,
        metavar="PATH|URL",
        help=f"{what} (env {AUDIT_DB_ENV}; default: the server's store, STATE_DIR/audit.db, "
        f"STATE_DIR being ${STATE_DIR_ENV} or .state)",
    )


def seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds (found {text!r})")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (found {text!r})")
    return value
