"""Build `secret_corpus.jsonl`: one synthetic sample in the shape of each gitleaks rule.

Usage: python make_secret_corpus.py PATH/TO/gitleaks/config/gitleaks.toml > secret_corpus.jsonl

Every sample is random text drawn from the rule's own regular expression (seeded, so the file
is reproducible), never a real credential. Go's syntax is translated where Python's differs
(`(?i)` mid-pattern, POSIX classes, `\\z`); a rule whose translation fails, or whose sample the
translated rule does not match back, is left out and counted on stderr. Each line records:
  rule     the gitleaks rule id
  kind     "token"   the rule recognises the value by its own shape (a prefix, a format)
           "keyword" the rule needs a keyword next to an assignment (gitleaks' semi-generic
                     form); the sample is then placed under a key named after the rule id
  sample   token: the whole text the rule matches; keyword: the secret value alone
"""

from __future__ import annotations

import json
import random
import re
import re._constants as C
import re._parser as P
import string
import sys
import tomllib
from typing import Any

_POSIX = {
    "[:alnum:]": "A-Za-z0-9",
    "[:alpha:]": "A-Za-z",
    "[:digit:]": "0-9",
    "[:xdigit:]": "0-9A-Fa-f",
    "[:upper:]": "A-Z",
    "[:lower:]": "a-z",
    "[:space:]": " \\t",
    "[:word:]": "A-Za-z0-9_",
}
_CATEGORY = {
    C.CATEGORY_DIGIT: string.digits,
    C.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    C.CATEGORY_SPACE: " ",
    C.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
    C.CATEGORY_NOT_DIGIT: string.ascii_letters,
    C.CATEGORY_NOT_WORD: " -.",
}
_PRINTABLE = string.ascii_letters + string.digits + "_-+/=."


def translate(go: str) -> str:
    """Go RE2 syntax to Python's, as far as gitleaks' rules need it."""
    rx = go
    for posix, chars in _POSIX.items():
        rx = rx.replace("[" + posix + "]", "[" + chars + "]").replace(posix, chars)
    rx = rx.replace("\\z", "\\Z")
    while True:  # a mid-pattern `(?i)` covers the rest of its group: make that a scoped group
        at = rx.find("(?i)", 1)
        if at < 0:
            break
        depth, i, in_class = 0, at + 4, False
        while i < len(rx):
            c = rx[i]
            if c == "\\":
                i += 2
                continue
            if in_class:
                in_class = c != "]"
            elif c == "[":
                in_class = True
            elif c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            elif c == "|" and depth == 0:
                break
            i += 1
        rx = rx[:at] + "(?i:" + rx[at + 4 : i] + ")" + rx[i:]
    return rx


def _chars(items: list[tuple[Any, Any]]) -> str:
    out: list[str] = []
    negate = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            out.append(chr(av))
        elif op is C.RANGE:
            out.extend(chr(c) for c in range(av[0], min(av[1], av[0] + 200) + 1))
        elif op is C.CATEGORY:
            out.extend(_CATEGORY.get(av, _PRINTABLE))
    if negate:
        return "".join(c for c in _PRINTABLE if c not in out) or "x"
    return "".join(c for c in out if c.isprintable()) or "x"


def generate(parsed: Any, rnd: random.Random) -> str:
    out: list[str] = []
    for op, av in parsed:
        if op is C.LITERAL:
            out.append(chr(av))
        elif op is C.NOT_LITERAL:
            out.append(rnd.choice([c for c in _PRINTABLE if ord(c) != av]))
        elif op is C.ANY:
            out.append(rnd.choice(string.ascii_letters))
        elif op is C.IN:
            out.append(rnd.choice(_chars(av)))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            low, high, sub = av
            high = low + 3 if high is C.MAXREPEAT else high
            out.extend(generate(sub, rnd) for _ in range(rnd.randint(low, max(low, high))))
        elif op is C.BRANCH:
            out.append(generate(rnd.choice(av[1]), rnd))
        elif op is C.SUBPATTERN:
            out.append(generate(av[3], rnd))
        elif op is C.ATOMIC_GROUP:
            out.append(generate(av, rnd))
        elif op is C.GROUPREF:
            out.append("")
        # AT, ASSERT, ASSERT_NOT: no text
    return "".join(out)


def _keyword_style(go: str) -> bool:
    return go.startswith(("(?i)[\\w.-]{0,50}?", "[\\w.-]{0,50}?"))


def main(path: str) -> None:
    with open(path, "rb") as fh:
        rules = tomllib.load(fh)["rules"]
    rnd = random.Random(20261202)
    skipped = 0
    for rule in rules:
        go = rule.get("regex")
        if not go:
            skipped += 1
            continue
        try:
            rx = translate(go)
            compiled = re.compile(rx)
            parsed = P.parse(rx)
        except re.error:
            skipped += 1
            continue
        group = int(rule.get("secretGroup", 1 if compiled.groups else 0))
        for _ in range(50):
            text = generate(parsed, rnd)
            m = compiled.search(text)
            if m is not None and m.group(group):
                break
        else:
            skipped += 1
            continue
        kind = "keyword" if _keyword_style(go) else "token"
        sample = m.group(group) if kind == "keyword" else m.group(0)
        print(json.dumps({"rule": rule["id"], "kind": kind, "sample": sample}))
    print(f"{len(rules)} rules, {skipped} left out", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
