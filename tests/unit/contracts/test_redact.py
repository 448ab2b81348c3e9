"""`redact_text`: fingerprints instead of secrets, caps on every echo, and a fixed point.

The roots that apply it (Reason, validate, engine, server, logs) are in test_no_echo.py.
"""

from __future__ import annotations

import hashlib

import pytest

from webhook.contracts.redact import MAX_SHOWN, cap, fingerprint, redact_text

# synthetic values in the shapes of real credentials (never real ones)
AWS = "AKIA" + "Q7WZ" * 4
GH = "ghp_" + "Zq7x" * 9
SLACK = "xoxb-" + "1234567890-abcdefghij"
LIT = "Zq7uniqueLiteral9xW"
SECRETS = (AWS, GH, SLACK, LIT)


def test_fingerprint_is_short_stable_and_domain_separated() -> None:
    fp = fingerprint(AWS)
    assert fp == fingerprint(AWS) != fingerprint(GH)
    assert fp.startswith("<redacted sha256:") and len(fp) == len("<redacted sha256:>") + 8
    assert hashlib.sha256(AWS.encode()).hexdigest()[:8] not in fp  # not a bare, lookup-able hash


@pytest.mark.parametrize("secret", [AWS, GH, SLACK, f"postgres://u:{LIT}@h/db", f"x?token={LIT}"])
def test_secret_shaped_runs_are_fingerprinted(secret: str) -> None:
    out = redact_text(f"must be 'prod' (found {secret!r})")
    assert "<redacted sha256:" in out
    for s in SECRETS:
        assert s not in out


def test_values_of_secret_fields_are_fingerprinted_whatever_they_look_like() -> None:
    out = redact_text(f"must be a string (found '{LIT}') and found integer 123456", secret=True)
    assert LIT not in out and "123456" not in out
    assert out.count("<redacted sha256:") == 2
    # the message's own words stay; only what was found is replaced
    assert out.startswith("must be a string (found <redacted sha256:")


def test_long_echoes_are_capped_with_their_size() -> None:
    out = redact_text(f"does not match (found {'x' * 5000!r})")
    assert f"'{'x' * MAX_SHOWN}'…(5000 bytes)" in out
    assert len(redact_text("y" * 100_000)) < 1100
    assert cap("é" * 70).endswith("…(140 bytes)")


@pytest.mark.parametrize(
    "text",
    [
        f"found '{AWS}' and {'z' * 300!r}",
        f'found "{LIT}" then found number 1.5e3',
        "x" * 5000,
        f"quote ' inside {GH} and \"open",
        "found '" + "a\\" * 40 + "'",
    ],
)
@pytest.mark.parametrize("secret", [False, True])
def test_redaction_is_a_fixed_point(text: str, secret: bool) -> None:
    once = redact_text(text, secret=secret)
    assert redact_text(once, secret=secret) == once


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        pytest.param("h: Bearer " + GH + " end", GH[10:], id="token inside a credential"),
        pytest.param("tok xoxb-1234567890-abcdefghijKLMNOPQRSTUV end", "KLMNOPQRSTUV", id="tail"),
        pytest.param("sk_live_abcdefghij0123456789 done", "0123456789", id="stripe tail"),
        pytest.param(
            repr("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END"),
            "MIIEowIBAAKCAQEA",
            id="key body",
        ),
    ],
)
def test_the_whole_secret_is_hidden_not_only_the_part_a_rule_matched(
    text: str, hidden: str
) -> None:
    out = redact_text(text)
    assert hidden not in out
    assert redact_text(out) == out
