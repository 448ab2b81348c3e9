"""The caller-side encoding: split templates equal the canonical definition, and the memo for
repeated decisions (decision-cache hits) can never serve another decision's text."""

from __future__ import annotations

import gc
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.audit.helpers import make_decision, reason
from webhook.audit.canonical import (
    GENESIS_HASH,
    RECORD_FIELDS,
    canonical_json,
    format_ts,
    record_hash,
    utc_now,
)
from webhook.audit.encode import Encoder, Prepared, _text_json, build_static, prepared
from webhook.contracts.decision import Decision, Reason


def _record(decision: Decision, *, source: str, dry_run: bool) -> dict[str, Any]:
    """The record as documented (docs/audit.md), built field by field from the decision."""
    return {
        "seq": 41,
        "ts": "2026-11-25T12:00:00.000001Z",
        "request_id": decision.request_id,
        "scenario": decision.scenario,
        "source": source,
        "decision": decision.decision,
        "env": decision.subject.get("env", ""),
        "dry_run": dry_run,
        "subject": decision.subject,
        "reasons": [r.model_dump(mode="json") for r in decision.reasons],
        "warnings": [r.model_dump(mode="json") for r in decision.warnings],
        "audited": [r.model_dump(mode="json") for r in decision.audited],
        "digests": decision.digests,
        "policy_bundle": decision.policy_bundle,
        "prev_hash": "1f" * 32,
    }


def _check(prep: Prepared, decision: Decision, *, source: str, dry_run: bool) -> None:
    record = _record(decision, source=source, dry_run=dry_run)
    body = prep.body(record["prev_hash"], record["seq"], record["ts"])
    digest = hashlib.sha256(body.encode("ascii")).hexdigest()
    assert digest == record_hash(record)
    record["hash"] = digest
    assert prep.line(digest, record["prev_hash"], record["seq"], record["ts"]) == canonical_json(
        {k: record[k] for k in RECORD_FIELDS}
    )


WARN = Reason(policy="p", severity="info", field="f", message="caf\u00e9 \u2603", action="warn")

#: every ASCII character (controls, quote, backslash, slash, DEL) in the maps and the reasons;
#: the lists without DEL take the orjson path, those with it the stdlib's
_EVERY_ASCII = make_decision(
    11,
    verdict="BLOCK",
    reasons=(
        Reason(
            policy="p",
            severity="high",
            field='a\x01\x1f"\\/',
            message="".join(map(chr, range(127))),
        ),
    ),
    warnings=(Reason(policy="w", severity="info", field="f", message="del \x7f", action="warn"),),
).model_copy(
    update={
        "subject": {"app_id": "".join(map(chr, range(32, 127))), "env": "e\x00\n\t\x1f/"},
        "digests": {"k\x7f": "v", 'q"\\': "\r\x08\x0c"},
    }
)

CASES = [
    make_decision(1),
    make_decision(2, verdict="BLOCK", reasons=(reason("tls-required"),), warnings=(WARN,)),
    make_decision(3, env=None, scenario="T2"),
    make_decision(4).model_copy(
        update={"request_id": '\u00fcn\u00efc\u00f6d\u00e9 \u2713 \u2028 "q" \\ back'}
    ),
    make_decision(5).model_copy(update={"subject": {}, "digests": {}}),
    make_decision(6).model_copy(update={"audited": (reason("no-root", action="audit"),)}),
    _EVERY_ASCII,
]


@pytest.mark.parametrize("decision", CASES)
@pytest.mark.parametrize("dry_run", [False, True])
def test_split_template_equals_the_canonical_record(decision: Decision, dry_run: bool) -> None:
    static = build_static(decision, source="admission", dry_run=dry_run)
    prep = prepared(static, decision.request_id)
    _check(prep, decision, source="admission", dry_run=dry_run)
    assert prep.static.columns[4] == int(dry_run)


def test_genesis_record_fills_like_any_other() -> None:
    decision = make_decision(7)
    prep = prepared(build_static(decision, source="api", dry_run=False), decision.request_id)
    record = _record(decision, source="api", dry_run=False) | {"seq": 1, "prev_hash": GENESIS_HASH}
    body = prep.body(GENESIS_HASH, 1, record["ts"])
    assert hashlib.sha256(body.encode("ascii")).hexdigest() == record_hash(record)


def test_cache_hit_copies_reuse_the_encoding_and_stay_identical() -> None:
    encoder = Encoder()
    original = make_decision(8, verdict="BLOCK", reasons=(reason("no-root"),))
    encoder.prepare(original, source="admission", dry_run=False)
    for i in range(20):  # what the server's decision cache hands out: shallow, new id
        hit = original.model_copy(update={"request_id": f"hit-{i}", "timestamp": "t"})
        prep = encoder.prepare(hit, source="admission", dry_run=False)
        _check(prep, hit, source="admission", dry_run=False)
        assert prep.request_id == f"hit-{i}"
    assert encoder.hits == 20


def test_source_and_dry_run_are_part_of_the_memo_key() -> None:
    encoder = Encoder()
    decision = make_decision(9)
    for source, dry_run in [("admission", False), ("api", False), ("api", True), ("cli", True)]:
        prep = encoder.prepare(decision, source=source, dry_run=dry_run)
        _check(prep, decision, source=source, dry_run=dry_run)
    assert encoder.hits == 0


def test_a_subject_changed_in_place_is_encoded_again() -> None:
    encoder = Encoder()
    decision = make_decision(10)
    encoder.prepare(decision, source="api", dry_run=False)
    decision.subject["env"] = "staging"  # same dict object, new content
    prep = encoder.prepare(decision, source="api", dry_run=False)
    _check(prep, decision, source="api", dry_run=False)
    assert '"env":"staging"' in prep.static.head and encoder.hits == 0
    decision.digests["extra"] = "sha256:" + "ef" * 32
    _check(encoder.prepare(decision, source="api", dry_run=False), decision, source="api",
           dry_run=False)  # fmt: skip


def test_short_lived_decisions_never_get_another_ones_text() -> None:
    """Thousands of decisions created and dropped: CPython reuses their ids, the memo must not
    (its entries keep their objects alive and compare them by identity)."""
    encoder = Encoder(entries=8)
    for i in range(3000):
        decision = make_decision(i, app=f"app-{i}", verdict="BLOCK" if i % 2 else "ALLOW")
        _check(encoder.prepare(decision, source="api", dry_run=False), decision, source="api",
               dry_run=False)  # fmt: skip
        del decision
        if i % 500 == 0:
            gc.collect()
    assert encoder.hits == 0
    assert len(encoder._memo) <= 8


def test_utc_now_is_the_record_timestamp_of_now() -> None:
    before = format_ts(datetime.now(UTC))
    now = utc_now()
    after = format_ts(datetime.now(UTC))
    assert len(now) == len(before) == 27 and now.endswith("Z")
    assert before <= now <= after


@pytest.mark.parametrize(
    "text",
    [chr(c) for c in range(128)]
    + ["caf\u00e9", "\u2603 \u2028", "\U0001f600", "lone \ud800 surrogate", "a" * 300],
)
def test_the_orjson_path_writes_the_canonical_text(text: str) -> None:
    """Every ASCII character, non-ASCII text and what orjson refuses: the canonical bytes."""
    for value in ({text: text, "k": text + "x"}, [{"m": text, "file": None}, {"z": "", text: ""}]):
        assert _text_json(value) == canonical_json(value)


class _Subject(dict[str, str]):
    """A map that is not exactly a dict: encoded by the stdlib, never by orjson."""


class _Why(Reason):
    """A Reason subclass (it could add fields): its list is encoded by the stdlib."""


@pytest.mark.parametrize(
    "decision",
    [
        make_decision(12).model_copy(update={"subject": _Subject(app_id="a\x7f", env="prod")}),
        make_decision(13, verdict="BLOCK").model_copy(
            update={"reasons": (_Why(policy="p", severity="high", field="f", message="m"),)}
        ),
    ],
)
def test_parts_orjson_may_not_write_are_encoded_as_before(decision: Decision) -> None:
    static = build_static(decision, source="api", dry_run=False)
    _check(prepared(static, decision.request_id), decision, source="api", dry_run=False)
