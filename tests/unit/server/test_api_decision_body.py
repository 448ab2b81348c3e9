"""`decision_body` must be byte-identical to `Decision.to_json()` for every decision."""

from __future__ import annotations

import pytest

from webhook.contracts.decision import Decision, Reason, Step
from webhook.server.api import BodyTemplates, decision_body

TEXTS = [
    "plain ascii",
    'quotes " and back\\slash / slash',
    "control \x00\x01\x08\t\n\x0b\x0c\r\x1f chars",
    "del \x7f char",
    "non-ascii é ü 漢字 and 🎉",
    "lone surrogate \udcff",
    "",
]


def decision(text: str) -> Decision:
    reason = Reason(policy="tls-required", severity="high", field=text or "f", message=text)
    return Decision(
        request_id="r-1",
        timestamp="2026-11-25T16:00:00.000000Z",
        scenario="T1",
        decision="BLOCK",
        reasons=(reason,),
        warnings=(Reason(policy="w", severity="low", field="x", message=text, file=text),),
        steps=(Step(name="parse", ok=True), Step(name="policies", ok=False, detail=text)),
        subject={"zeta": text, "app_id": "a", "Env": "b", text: "k"},
        digests={"b.yaml": "sha256:00", "a.json": "sha256:11"},
        policy_bundle="sha256:" + "0" * 64,
    )


@pytest.mark.parametrize("text", TEXTS)
def test_same_bytes_as_to_json(text: str) -> None:
    d = decision(text)
    assert decision_body(d) == d.to_json().encode("utf-8")


def test_allow_decision_with_defaults() -> None:
    d = Decision(
        request_id="x", timestamp="t", scenario="T2", decision="ALLOW", policy_bundle="none"
    )
    assert decision_body(d) == d.to_json().encode("utf-8")


def restamped(d: Decision, request_id: str, timestamp: str) -> Decision:
    return d.model_copy(update={"request_id": request_id, "timestamp": timestamp})


@pytest.mark.parametrize("text", TEXTS)
def test_templates_give_the_same_bytes_as_to_json(text: str) -> None:
    bodies = BodyTemplates()
    stored = decision(text)
    seen = []
    for i in range(3):  # first builds the template, the others use it
        hit = restamped(stored, f"req-{i}", f"2026-11-25T16:00:0{i}.000000Z")
        seen.append(bodies.body(hit, "key"))
        assert seen[-1] == hit.to_json().encode("utf-8")
    assert len(set(seen)) == 3


def test_templates_never_serve_a_different_decision() -> None:
    bodies = BodyTemplates(max_entries=2)
    stored = decision("x")
    assert bodies.body(stored, "key") == stored.to_json().encode()
    # same key, other content (e.g. the BLOCK copy of a failed audit write): encoded in full
    failed = stored.model_copy(
        update={
            "reasons": (
                *stored.reasons,
                Reason(policy="audit-write-failed", severity="high", field="audit", message="m"),
            )
        }
    )
    assert bodies.body(failed, "key") == failed.to_json().encode()
    changed = stored.model_copy(update={"subject": {**stored.subject, "env": "dev"}})
    assert bodies.body(changed, "key") == changed.to_json().encode()
    # ids that would need JSON escapes are encoded in full
    for rid in ('a"b', "é", "tab\there", "del\x7f"):
        odd = restamped(stored, rid, "t")
        assert bodies.body(odd, "key") == odd.to_json().encode()
    for k in ("a", "b", "c", None):  # bounded, and no key means no template
        assert bodies.body(stored, k) == stored.to_json().encode()
    assert len(bodies._items) <= 2


def test_a_value_equal_to_a_marker_disables_the_template() -> None:
    bodies = BodyTemplates()
    d = decision("@@mg-timestamp@@")
    assert bodies.body(d, "k") == d.to_json().encode()
    assert "k" not in bodies._items
    again = restamped(d, "r2", "t2")
    assert bodies.body(again, "k") == again.to_json().encode()
