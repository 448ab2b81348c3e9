"""Plain YAML scalars that YAML 1.1 (the gate's parser) and YAML 1.2 (many an app's) read apart.

The gate must check the value the application will run with. Where the two versions disagree on
an unquoted scalar the document is ambiguous, so it is refused at parse time, naming the field.
Before, `privileged: no` was False to the gate and the truthy string "no" to a YAML 1.2 app, and
`port: 020373` was 8443 to the gate and 20373 to the app: both ALLOWed when re-pinned and signed.
"""

from __future__ import annotations

import pytest

from webhook.contracts.strict import load_yaml
from webhook.contracts.yaml12 import core_value, differs
from webhook.errors import InputError

SRC = "app-config.yaml"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (b"security:\n  privileged: no\n", "security.privileged"),
        (b"security:\n  privileged: off\n", "security.privileged"),
        (b"security:\n  run_as_root: OFF\n", "security.run_as_root"),
        (b"tls:\n  enabled: yes\n", "tls.enabled"),
        (b"tls:\n  enabled: On\n", "tls.enabled"),
        (b"ports:\n  - port: 8_443\n", "ports[0].port"),
        (b"ports:\n  - port: 020373\n", "ports[0].port"),
        (b"ports:\n  - port: 2:20:43\n", "ports[0].port"),
        (b"ports:\n  - port: 0b10000011111011\n", "ports[0].port"),
        (b"limits:\n  ratio: 1_000.5\n", "limits.ratio"),
        (b"limits:\n  ratio: 1.0e5\n", "limits.ratio"),  # a string here, 100000.0 there
        (b"mode: 0o17\n", "mode"),  # a string here, 15 there
        (b"mode: 08\n", "mode"),  # a string here, 8 there
        (b"0o17: x\n", "0o17"),  # a key: a string here, an int there
    ],
)
def test_yaml11_only_spellings_are_refused_naming_the_field(doc: bytes, field: str) -> None:
    with pytest.raises(InputError) as err:
        load_yaml(doc, source=SRC)
    assert err.value.field == field
    assert "YAML 1.2" in err.value.message and "quote it" in err.value.message


def test_spellings_both_versions_share_still_load() -> None:
    doc = (
        b"a: true\nb: False\nc: 8443\nd: -1\ne: +3\nf: 1.5\ng: .5\nh: 1.\ni: 1.0e+5\n"
        b"j: null\nk: ~\nl:\nm: 0x1F\nn: 007\no: 0\np: text\nq: y\nr: '2:20:43'\n"
        b's: "no"\nt: !!str 123\nu: |\n  no\n'
    )
    assert load_yaml(doc, source=SRC) == {
        "a": True, "b": False, "c": 8443, "d": -1, "e": 3, "f": 1.5, "g": 0.5, "h": 1.0,
        "i": 100000.0, "j": None, "k": None, "l": None, "m": 31, "n": 7, "o": 0, "p": "text",
        "q": "y", "r": "2:20:43", "s": "no", "t": "123", "u": "no\n",
    }  # fmt: skip


def test_the_core_schema_reading() -> None:
    assert core_value("no") == "no"
    assert core_value("020373") == 20373
    assert core_value("0o17") == 15
    assert core_value("1.0e5") == 100000.0
    assert core_value("TRUE") is True
    assert differs("8443", 8443) is None
    assert differs("1", True) is not None  # same == but another type


def test_long_plain_scalars_stay_cheap_and_refused_when_they_differ() -> None:
    digits = "1" * 1000
    assert core_value(digits) == digits  # never int()-parsed past the bound
    assert load_yaml(f"k: {'x' * 100_000}\n".encode(), source=SRC) == {"k": "x" * 100_000}
