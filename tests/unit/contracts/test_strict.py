"""Hostile and malformed documents: each must fail with an InputError naming the file and place."""

from __future__ import annotations

import pytest

from webhook.contracts.limits import ParseLimits
from webhook.contracts.strict import load_json, load_yaml
from webhook.errors import InputError

SRC = "app-config.yaml"


def _yaml_err(data: bytes, **kw: object) -> str:
    with pytest.raises(InputError) as info:
        load_yaml(data, source=SRC, **kw)  # type: ignore[arg-type]
    assert info.value.file == SRC
    return str(info.value)


def test_plain_yaml_loads() -> None:
    assert load_yaml(b"a: 1\nb: [x, y]\n", source=SRC) == {"a": 1, "b": ["x", "y"]}


def test_duplicate_keys_rejected_with_line() -> None:
    msg = _yaml_err(b"tls:\n  enabled: true\n  enabled: false\n")
    assert "duplicate key 'enabled'" in msg and "line 3" in msg


def test_non_string_keys_rejected() -> None:
    assert "is a int" in _yaml_err(b"1: x\n")
    # YAML 1.1 reads `on` as a boolean: a classic surprise in configs
    assert "is a bool" in _yaml_err(b"on: true\n")
    assert "is a null" in _yaml_err(b"~: x\n")


def test_many_keys_are_not_aliases() -> None:
    """Regression: keys were once built twice and counted as alias references."""
    doc = "".join(f"k{i}: {{a: 1, b: 2}}\n" for i in range(500)).encode()
    assert len(load_yaml(doc, source=SRC)) == 500


def test_duplicate_key_names_the_field_path() -> None:
    with pytest.raises(InputError) as info:
        load_yaml(b"security:\n  ports:\n    - {port: 1, port: 2}\n", source=SRC)
    assert info.value.field == "security.ports[0].port"


@pytest.mark.parametrize("doc", [b"a: !!set {x, y}\n", b"a: !!omap [x: 1]\n", b"a: !custom x\n"])
def test_non_standard_tags_rejected(doc: bytes) -> None:
    assert "YAML" in _yaml_err(doc)


def test_aliases_are_copies_not_shared() -> None:
    data = load_yaml(b"a: &x [1]\nb: *x\n", source=SRC)
    data["a"].append(2)
    assert data["b"] == [1]


def test_billion_laughs_rejected() -> None:
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    msg = _yaml_err("\n".join(levels).encode())
    assert "alias bomb" in msg or "alias references" in msg


def test_alias_budget_counts_references() -> None:
    doc = "base: &b {x: 1}\n" + "".join(f"k{i}: *b\n" for i in range(10))
    assert load_yaml(doc.encode(), source=SRC)["k9"] == {"x": 1}
    assert "alias references" in _yaml_err(doc.encode(), limits=ParseLimits(max_aliases=5))


def test_merge_keys_still_work() -> None:
    data = load_yaml(b"base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n", source=SRC)
    assert data["d"] == {"x": 1, "y": 2}


def test_size_limit() -> None:
    big = b"k: " + b"x" * (2 * 1024 * 1024) + b"\n"
    assert "larger than the 1048576-byte limit" in _yaml_err(big)
    assert "larger than the 100-byte limit" in _yaml_err(
        b"a: 1\n" * 50, limits=ParseLimits(max_bytes=100)
    )


def test_50mb_yaml_rejected_before_parsing() -> None:
    # the caller reads at most limit+1 bytes; the parser must refuse without reading further
    chunk = (b"key: value\n" * 5_000_000)[: 1024 * 1024 + 1]
    assert "limit" in _yaml_err(chunk)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"a: \xff\xfe\n", "not valid UTF-8 at byte 3"),
        (b"a: 1\n---\nb: 2\n", "invalid YAML"),
        (b"a: [1\n", "invalid YAML"),
        (b"a: !!python/object:os.system ls\n", "unsupported YAML tag"),
    ],
)
def test_malformed_yaml(data: bytes, expected: str) -> None:
    assert expected in _yaml_err(data)


def test_deep_nesting_rejected() -> None:
    doc = b"a: " + b"[" * 100 + b"]" * 100 + b"\n"
    assert "nesting deeper" in _yaml_err(doc)


def test_bom_is_tolerated() -> None:
    assert load_yaml(b"\xef\xbb\xbfa: 1\n", source=SRC) == {"a": 1}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'{"a": Infinity}', "Infinity is not valid JSON"),
        (b'{"a": 1e999}', "overflows to infinity"),
        (b'{"a": 1', "invalid JSON"),
        (b"", "empty"),
        (b'{"a": "\xc3\x28"}', "not valid UTF-8"),
        (b"[" * 200 + b"]" * 200, "nesting deeper"),
    ],
)
def test_malformed_json(data: bytes, expected: str) -> None:
    with pytest.raises(InputError) as info:
        load_json(data, source="migration_manifest.json")
    assert expected in str(info.value)
    assert info.value.file == "migration_manifest.json"


def test_json_duplicate_names_the_field() -> None:
    with pytest.raises(InputError) as info:
        load_json(b'{"env": "prod", "env": "staging"}', source="m.json")
    assert info.value.field == "env"
