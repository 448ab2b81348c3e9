"""Only JSON-compatible YAML, and no keys that differ only in case (issue 11 item 3).

A `!!binary`, a timestamp, a non-finite float or a custom tag would reach the checks as a type
they do not expect (a secret-named key holding bytes passed no-inline-secrets); two keys that
differ only in case are read as either by a case-insensitive binder. Each is refused at parse
time with an InputError naming the field.
"""

from __future__ import annotations

import pytest

from webhook.contracts.strict import load_json, load_yaml
from webhook.errors import InputError

SRC = "app-config.yaml"


def _err(data: bytes) -> InputError:
    with pytest.raises(InputError) as info:
        load_yaml(data, source=SRC)
    assert info.value.file == SRC
    return info.value


@pytest.mark.parametrize(
    ("doc", "field", "fragment"),
    [
        pytest.param(b"db:\n  password: !!binary aGVsbG8=\n", "db.password", "!!binary", id="bin"),
        pytest.param(b"db:\n  token: 2024-01-01\n", "db.token", "timestamp", id="date"),
        pytest.param(b"a: 2001-12-14t21:59:43.10-05:00\n", "a", "timestamp", id="datetime"),
        pytest.param(b"a: !!timestamp '2024-01-01'\n", "a", "timestamp", id="explicit ts"),
        pytest.param(b"a: [1, !custom x]\n", "a[1]", "!custom", id="custom tag in list"),
        pytest.param(b"a: !!python/str x\n", "a", "!!python/str", id="python tag"),
        pytest.param(b"a: {b: .nan}\n", "a.b", "not a finite number", id="nan"),
        pytest.param(b"a: -.inf\n", "a", "not a finite number", id="inf"),
        pytest.param(b"a: !!value x\n", "a", "!!value", id="value tag"),
    ],
)
def test_non_json_yaml_values_are_refused_naming_the_field(
    doc: bytes, field: str, fragment: str
) -> None:
    err = _err(doc)
    assert err.field == field
    assert fragment in err.message


def test_json_compatible_scalars_still_load() -> None:
    doc = b"a: [1, 0x1f, 1.5, true, ~, text, '2024-01-01', !!str 2024-01-02, ! x]\n"
    assert load_yaml(doc, source=SRC) == {
        "a": [1, 31, 1.5, True, None, "text", "2024-01-01", "2024-01-02", "x"]
    }


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (b"tls:\n  enabled: true\n  Enabled: false\n", "tls.Enabled"),
        (b"ports:\n  - {port: 1, PORT: 2}\n", "ports[0].PORT"),
        (b"Env: prod\nenv: staging\n", "env"),
    ],
)
def test_yaml_keys_differing_only_in_case_are_refused(doc: bytes, field: str) -> None:
    err = _err(doc)
    assert err.field == field
    assert "differ only in case" in err.message


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (b'{"env": "prod", "ENV": "staging"}', "ENV"),
        (b'{"a": {"payload": "x", "Payload": "y"}}', "a.Payload"),
        (b'{"s": [{"digest": {"sha256": "1", "SHA256": "2"}}]}', "s[0].digest.SHA256"),
    ],
)
def test_json_keys_differing_only_in_case_are_refused(doc: bytes, field: str) -> None:
    with pytest.raises(InputError) as info:
        load_json(doc, source="m.json")
    assert info.value.field == field
    assert "differ only in case" in info.value.message


def test_distinct_keys_and_same_key_in_different_mappings_pass() -> None:
    assert load_yaml(b"a: {x: 1}\nb: {X: 2}\nA1: 1\na2: 2\n", source=SRC)
    assert load_json(b'{"a": {"x": 1}, "b": {"X": 2}}', source="m.json")
