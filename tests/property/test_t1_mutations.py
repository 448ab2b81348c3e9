"""T1 (config tampering): no mutation of the good example is ALLOWed unless stated benign.

Two attacker models. *Unsigned* mutations (bytes changed after signing) must always BLOCK: the
config is pinned by SHA-256 and the manifest is the signed payload. *Re-pinned* mutations (the
manifest re-hashed and re-signed with the trusted TEST key, i.e. a producer shipping a hostile
config) leave the config's content as the only defence, so each one is judged field by field.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import given, note, settings
from hypothesis import strategies as st

from tests.property.support import (
    T1_FILES,
    decide_t1,
    explain,
    repin,
    scaled,
    t1_good,
    t1_inputs,
)

GOOD = t1_good()
CONFIG = GOOD["app-config.yaml"]
BASE: dict[str, Any] = yaml.safe_load(CONFIG)


def test_good_example_allows() -> None:
    d = decide_t1(t1_inputs(dict(GOOD)))
    assert d.decision == "ALLOW", explain(d)
    again = decide_t1(t1_inputs(repin(CONFIG)))
    assert again.decision == "ALLOW", explain(again)


# ---- unsigned byte flips ------------------------------------------------------------------


def _only_keyids_differ(original: bytes, mutated: bytes) -> bool:
    """The DSSE `keyid` is an unauthenticated hint (dsse.py): changing it alone is benign."""
    try:
        a, b = json.loads(original), json.loads(mutated)
    except (ValueError, UnicodeDecodeError):
        return False
    if not isinstance(b, dict) or set(a) != set(b) or not isinstance(b.get("signatures"), list):
        return False
    strip = [{k: v for k, v in s.items() if k != "keyid"} for s in a["signatures"]]
    try:
        theirs = [{k: v for k, v in s.items() if k != "keyid"} for s in b["signatures"]]
    except AttributeError:
        return False
    same_rest = all(a[k] == b[k] for k in a if k != "signatures")
    keyids_are_str = all(isinstance(s.get("keyid", ""), str) for s in b["signatures"])
    return same_rest and strip == theirs and keyids_are_str


@settings(max_examples=scaled(150))
@given(
    name=st.sampled_from(T1_FILES),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    mask=st.integers(min_value=1, max_value=255),
)
def test_byte_flip_never_allows(name: str, where: float, mask: int) -> None:
    files: dict[str, bytes | None] = dict(GOOD)
    data = bytearray(GOOD[name])
    i = int(where * len(data))
    data[i] ^= mask
    files[name] = bytes(data)
    note(f"{name}[{i}] ^= {mask:#x}")
    d = decide_t1(t1_inputs(files))
    if name == "migration_manifest.dsse.json" and _only_keyids_differ(GOOD[name], bytes(data)):
        return  # benign: only the keyid hint changed (every trusted key is tried)
    assert d.decision == "BLOCK", f"flip {name}[{i}] ^= {mask:#x} was ALLOWed"


@pytest.mark.parametrize("name", T1_FILES)
def test_each_input_removed_blocks(name: str) -> None:
    files: dict[str, bytes | None] = dict(GOOD)
    files[name] = None
    assert decide_t1(t1_inputs(files)).decision == "BLOCK"


# ---- re-pinned field removals and retypes -------------------------------------------------

Path_ = tuple[str | int, ...]


def _paths(node: Any, pre: Path_ = ()) -> list[Path_]:
    out: list[Path_] = [pre] if pre else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*pre, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*pre, i))
    return out


PATHS = _paths(BASE)
SAMPLES: dict[str, Any] = {
    "null": None,
    "true": True,
    "false": False,
    "zero": 0,
    "int": 8443,
    "float": 1.5,
    "str": "x",
    "list": [],
    "map": {},
}


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def _generic(path: Path_) -> str:
    """`ports.1.bind` -> `ports.*.bind`: one rule for every list entry."""
    return ".".join("*" if isinstance(p, int) else p for p in path)


def _get(doc: Any, path: Path_) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _mutate(path: Path_, value: Any, *, remove: bool = False) -> bytes:
    doc = copy.deepcopy(BASE)
    parent = _get(doc, path[:-1])
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return yaml.safe_dump(doc, sort_keys=False).encode()


#: removing these is benign: nothing the gate must see goes missing (no port is exposed, no
#: capability added, no secret present); every other removal must BLOCK in prod
BENIGN_REMOVALS = {
    "ports": "no ports: nothing is exposed",
    "ports.*": "one port fewer exposes less",
    "ports.*.name": "a port's name is a label",
    "ports.*.exposure": "bind decides exposure (private/loopback binds stay)",
    "security.capabilities": "no capabilities added",
    "database": "the gate does not own the database section; it holds only a reference",
    "database.host": "not security relevant",
    "database.password_ref": "no secret at all",
}
#: fields whose value the gate does not judge (any type is benign there)
FREE_FIELDS = {
    "database": "free-form section: its secret-named keys are judged, not its shape",
    "database.host": "not security relevant",
    "ports.*.name": "a label; strings only, and null means absent",
}
#: known, reported bugs (issue 11): ALLOWed on main when written, must BLOCK. Each found one is
#: fixed and unmarked: item 9 (a missing security section or field, a hostname in `bind`) and
#: item 3's `password_ref` holding a non-reference (a `*_ref` key names a secret's reference).
KNOWN_REMOVALS: dict[str, str] = {}
KNOWN_RETYPES: dict[tuple[str, str], str] = {}
#: a different value of the right type that is still a good config
BENIGN_RETYPES = {
    ("ports.*.port", "int"): "8443 is another valid port number",
}
#: a value equal to the original (or the absent default) is not a mutation
SAME_VALUE = {
    ("tls.enabled", "true"),
    ("security.run_as_root", "false"),
    ("security.privileged", "false"),
    ("security.capabilities", "list"),
    ("ports", "list"),
    ("ports", "null"),
    ("ports.*.name", "null"),
    ("security.capabilities", "null"),
    ("database.password_ref", "null"),
    # an empty list or mapping holds no secret: like null, it is no value at all
    ("database.password_ref", "list"),
    ("database.password_ref", "map"),
}


def _removal_cases() -> list[Any]:
    cases = []
    for path in PATHS:
        g = _generic(path)
        marks = []
        if g in KNOWN_REMOVALS:
            marks = [pytest.mark.xfail(strict=True, reason=KNOWN_REMOVALS[g])]
        cases.append(pytest.param(path, id=_dotted(path), marks=marks))
    return cases


@pytest.mark.parametrize("path", _removal_cases())
def test_field_removed_and_repinned(path: Path_) -> None:
    d = decide_t1(t1_inputs(repin(_mutate(path, None, remove=True))))
    if _generic(path) in BENIGN_REMOVALS:
        return  # stated benign above; only a crash would fail here
    assert d.decision == "BLOCK", f"removing {_dotted(path)} was ALLOWed"


def _retype_cases() -> list[Any]:
    cases = []
    for path in PATHS:
        g = _generic(path)
        for tag in SAMPLES:
            reason = KNOWN_RETYPES.get((g, tag))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(path, tag, id=f"{_dotted(path)}={tag}", marks=marks))
    return cases


@pytest.mark.parametrize(("path", "tag"), _retype_cases())
def test_field_retyped_and_repinned(path: Path_, tag: str) -> None:
    d = decide_t1(t1_inputs(repin(_mutate(path, SAMPLES[tag]))))
    g = _generic(path)
    original = _get(BASE, path)
    same = type(original) is type(SAMPLES[tag]) and original == SAMPLES[tag]
    if g in FREE_FIELDS or (g, tag) in SAME_VALUE or (g, tag) in BENIGN_RETYPES or same:
        return
    assert d.decision == "BLOCK", f"{_dotted(path)} = {SAMPLES[tag]!r} was ALLOWed"


# ---- YAML spellings: type swaps, YAML 1.1 vs 1.2 -------------------------------------------

#: (original line, replacement, verdict). "block": the value changes meaning; "benign": the
#: same value in YAML 1.1 (PyYAML) and YAML 1.2 (most app binders); "ambiguous": 1.1 and 1.2
#: read different values, so the app may run with what the gate did not check: must BLOCK.
SWAPS: list[tuple[str, str, str]] = [
    ("privileged: false", "privileged: False", "benign"),
    ("privileged: false", "privileged: FALSE", "benign"),
    ("privileged: false", 'privileged: "false"', "block"),
    ("privileged: false", "privileged: 0", "block"),
    ("privileged: false", "privileged: ~", "block"),
    ("privileged: false", "privileged: no", "ambiguous"),
    ("privileged: false", "privileged: off", "ambiguous"),
    ("privileged: false", "privileged: No", "ambiguous"),
    ("run_as_root: false", "run_as_root: n", "block"),
    ("run_as_root: false", "run_as_root: OFF", "ambiguous"),
    ("enabled: true", "enabled: yes", "ambiguous"),
    ("enabled: true", "enabled: on", "ambiguous"),
    ("enabled: true", "enabled: True", "benign"),
    ("enabled: true", 'enabled: "true"', "block"),
    ("enabled: true", "enabled: 1", "block"),
    ('min_version: "1.3"', "min_version: 1.3", "block"),
    ('min_version: "1.3"', "min_version: '1.3'", "benign"),
    ('min_version: "1.3"', "min_version: !!str 1.3", "benign"),
    ("port: 8443", 'port: "8443"', "block"),
    ("port: 8443", "port: 8_443", "ambiguous"),
    ("port: 8443", "port: 020373", "ambiguous"),
    ("port: 8443", "port: 0x20FB", "benign"),
    ("port: 8443", "port: 2:20:43", "ambiguous"),
    ("port: 8443", "port: 8443.0", "block"),
    ("capabilities: []", "capabilities: ~", "benign"),
    ("capabilities: []", "capabilities: {}", "block"),
    ("capabilities: []", "capabilities: [NET_ADMIN]", "block"),
    ("capabilities: []", "capabilities: !!set {NET_ADMIN}", "block"),
    ("bind: 127.0.0.1", "bind: !!binary MTI3LjAuMC4x", "block"),
    ("secrets_ref: vault://kv/payments/prod", "secrets_ref: !!null", "block"),
    ("env: prod", "env: !!str prod", "benign"),
    ("env: prod", "env: Prod", "block"),
    ("app_id: payments", "app_id: !!python/str payments", "block"),
]


def _swap_cases() -> list[Any]:
    return [pytest.param(old, new, verdict, id=new) for old, new, verdict in SWAPS]


@pytest.mark.parametrize(("old", "new", "verdict"), _swap_cases())
def test_yaml_spelling_swap(old: str, new: str, verdict: str) -> None:
    text = CONFIG.decode()
    assert old in text
    mutated = text.replace(old, new, 1).encode()
    unsigned = decide_t1(t1_inputs({**GOOD, "app-config.yaml": mutated}))
    assert unsigned.decision == "BLOCK", "a changed config must not match the pinned hash"
    d = decide_t1(t1_inputs(repin(mutated)))
    if verdict == "benign":
        assert d.decision == "ALLOW", explain(d)  # the same document: a stated benign change
    else:
        assert d.decision == "BLOCK", f"{new!r} was ALLOWed"


# ---- line edits: comments, duplicated keys, reordered keys --------------------------------

LINES = CONFIG.decode().splitlines(keepends=True)


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _parent(lines: list[str], i: int) -> int:
    for k in range(i - 1, -1, -1):
        if not _comment(lines[k]) and _indent(lines[k]) < _indent(lines[i]):
            return k
    return -1


def _siblings(lines: list[str], i: int, k: int) -> bool:
    return (
        not _comment(lines[k])
        and _indent(lines[k]) == _indent(lines[i])
        and _parent(lines, k) == _parent(lines, i)
    )


def _norm(doc: Any) -> Any:
    """Lists as sets: a repeated or reordered identical list entry exposes nothing new."""
    if isinstance(doc, dict):
        return {k: _norm(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return sorted({json.dumps(_norm(v), sort_keys=True) for v in doc})
    return doc


@settings(max_examples=scaled(60))
@given(data=st.data())
def test_line_edits(data: st.DataObject) -> None:
    """Duplicate a line, swap two lines or add a comment; re-pinned, judged by what it parses to.

    Benign when the document parses (strictly) to the same data as the original: a comment,
    keys reordered within one mapping, a list entry repeated or moved. A duplicated mapping key
    must BLOCK (a strict parse error).
    """
    from webhook.contracts.strict import load_yaml
    from webhook.errors import InputError

    lines = list(LINES)
    op = data.draw(st.sampled_from(["dup", "swap", "comment"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if op == "dup":
        lines.insert(i, lines[i])
    elif op == "swap":
        # keys reordered: two sibling lines (same indentation, same parent; comments stay)
        i = data.draw(st.sampled_from([k for k, ln in enumerate(lines) if not _comment(ln)]))
        j = data.draw(st.sampled_from([k for k in range(len(lines)) if _siblings(lines, i, k)]))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines.insert(i, "# " + data.draw(st.text(max_size=20).filter(lambda s: "\n" not in s))
                     + "\n")  # fmt: skip
    mutated = "".join(lines).encode()
    note(f"{op} at {i}:\n{mutated.decode()}")
    unsigned = decide_t1(t1_inputs({**GOOD, "app-config.yaml": mutated}))
    if mutated != CONFIG:
        assert unsigned.decision == "BLOCK"
    d = decide_t1(t1_inputs(repin(mutated)))
    try:
        same = _norm(load_yaml(mutated, source="m")) == _norm(BASE)
    except InputError:
        same = False
    if not same:
        assert d.decision == "BLOCK", f"{op} at line {i} was ALLOWed:\n{mutated.decode()}"
