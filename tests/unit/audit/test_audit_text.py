"""The text helpers every record field goes through (the doors' own refusal of a lone surrogate
is tested in tests/unit/server/test_srv_hostile_inputs.py).

Plus the bound that makes item 6 hold for ANY input: a decision built from arbitrary Unicode
(lone surrogates, astral characters, control characters) at every cap still encodes, fits the
record limit with room to spare, and round-trips through the store.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.audit.helpers import make_decision
from webhook.audit import bound
from webhook.audit.canonical import canonical_json
from webhook.audit.encode import MAX_RECORD_BYTES, build_static, prepared
from webhook.audit.text import as_text, cap, clean, printable
from webhook.contracts.decision import Reason

LONE = "\udc80"

#: an upper bound of any record's encoded size: the field budgets, the capped strings (request
#: id, env twice, policy bundle) at 12 bytes a character (an astral one is `\uXXXX\uXXXX`), and
#: 4 KiB for the fixed fields
WORST_CASE_BYTES = (
    sum(bound.BUDGET.values())
    + (bound.REQUEST_ID_CHARS + 2 * bound.SUBJECT_VALUE_CHARS + bound.POLICY_BUNDLE_CHARS) * 12
    + 4096
)


def test_clean_is_deterministic_and_always_encodes() -> None:
    assert clean("plain \x00 caf\u00e9") == "plain \x00 caf\u00e9"
    assert clean(f"a{LONE}b") == "a\\udc80b"
    assert clean("\ud83d\ude00").encode("utf-8")  # a pair of lone halves is two escapes


def test_cap_keeps_length_and_fingerprint_so_long_values_stay_distinct() -> None:
    a, b = cap("x" * 10_000 + "a", 100), cap("x" * 10_000 + "b", 100)
    assert len(a) <= 100 and len(b) <= 100 and a != b and "[10001 chars, sha256:" in a
    assert cap("short", 100) == "short"
    assert len(cap(LONE * 1000, 100)) <= 100


def test_printable_escapes_line_breaks_and_terminal_sequences() -> None:
    assert printable("a\nb\x1b[2J\u2028") == "a\\nb\\x1b[2J\\u2028"
    assert len(printable("x" * 10_000)) <= 256


def test_as_text_never_raises() -> None:
    assert as_text("s") == "s" and as_text(5) == "5" and as_text(None) == "null"
    assert as_text({"b": 1, "a": [True]}) == '{"a":[true],"b":1}'
    assert as_text(object()) == "<object>"
    assert as_text(float("nan")) == "<float>"


_ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0), max_size=50)


def _field(draw_text: str, length: int) -> str:
    return (draw_text or "x") * (length // max(len(draw_text), 1) + 1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chars=_ANY_TEXT,
    n_reasons=st.integers(0, 150),
    n_subject=st.integers(0, 100),
    n_digests=st.integers(0, 600),
)
def test_any_decision_at_every_cap_fits_the_record(
    chars: str, n_reasons: int, n_subject: int, n_digests: int
) -> None:
    big = _field(chars + "\U0001f600" + LONE, 2100)
    reasons = tuple(
        Reason.model_construct(
            policy=big[:200], severity="critical", field=big, message=big, file=big, action="warn"
        )
        for _ in range(n_reasons)
    )
    decision = make_decision(1, verdict="BLOCK").model_copy(
        update={
            "reasons": reasons,
            "warnings": reasons,
            "audited": reasons,
            "subject": {f"{big[:100]}{i}": big for i in range(n_subject)} | {"env": big},
            "digests": {f"{big[:300]}{i}": big for i in range(n_digests)},
            "policy_bundle": big,
        }
    )
    static = build_static(decision, source="admission", dry_run=False)
    record = prepared(static, big)
    line = record.line("0" * 64, "0" * 64, 1, "2026-01-01T00:00:00.000000Z")
    assert len(line) <= WORST_CASE_BYTES
    line.encode("ascii")
    parsed = json.loads(line)
    json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    assert len(parsed["reasons"]) <= bound.MAX_KEPT_REASONS + 1
    if n_reasons:
        assert (
            parsed["reasons"][-1]["policy"] == bound.OMITTED_POLICY
            or len(parsed["reasons"]) == n_reasons
        )
    assert canonical_json(parsed) == line


def test_a_bounded_valid_decision_is_recorded_unchanged() -> None:
    """The bound changes nothing for ordinary decisions: same text as before the fix."""
    decision = make_decision(1)
    assert bound.bounded(decision) is decision
    parsed = type(decision).model_validate_json(decision.to_json())  # strings not interned
    assert bound.bounded(parsed) is parsed


def test_the_worst_case_record_is_well_below_the_limit() -> None:
    assert WORST_CASE_BYTES < MAX_RECORD_BYTES * 0.75
