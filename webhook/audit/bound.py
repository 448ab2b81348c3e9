"""The record view of a decision: bounded and encodable, so EVERY decision gets its record.

A requester must not be able to leave the chain by choosing a large or odd input (thousands of
WAL files, a lone surrogate in a uid, a 1 MB request id, a non-str subject value). Each field of
the record is therefore cut to a budget of encoded bytes that together stay far below
`encode.MAX_RECORD_BYTES`: past a list's cap its reasons are summarised by one reason (how many,
which policies, and the SHA-256 of the full list as decided), a map past its cap keeps an entry
with the SHA-256 of the full map, and a long string keeps its length and fingerprint
(`text.cap`). Every string goes through `text.clean`, so the record always encodes.
Pure functions; the encoder calls `bounded` once per distinct decision (memoised).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sized
from typing import Any, cast, get_args

from webhook.audit.canonical import canonical_json
from webhook.audit.text import as_text, cap, digest_of, fits
from webhook.contracts.decision import Action, Decision, Reason, Severity

#: characters kept of each field (after `text.clean`); a cut value ends with length + fingerprint
REQUEST_ID_CHARS = 256
POLICY_BUNDLE_CHARS = 256
SUBJECT_KEY_CHARS = 64
SUBJECT_VALUE_CHARS = 256
DIGEST_KEY_CHARS = 256
DIGEST_VALUE_CHARS = 160
REASON_CHARS: dict[str, int] = {"policy": 128, "field": 512, "file": 512, "message": 2048}
SUMMARY_CHARS = 1024
#: reasons kept per list before the rest are summarised
MAX_KEPT_REASONS = 100
#: policies named (with their counts) in a summary reason
MAX_SUMMARY_POLICIES = 16

#: encoded-byte budget per field; with the capped strings (one char is at most 12 bytes, as
#: `\\uXXXX\\uXXXX`) the record stays well below the record limit (the bound is tested)
BUDGET: dict[str, int] = {
    "reasons": 192 * 1024,
    "warnings": 48 * 1024,
    "audited": 48 * 1024,
    "subject": 24 * 1024,
    "digests": 32 * 1024,
}
#: room kept in a reason list's budget for its summary reason
SUMMARY_RESERVE = 20 * 1024

#: the policy id of a summary reason (only ever in audit records, never in a Decision)
OMITTED_POLICY = "audit-reasons-omitted"
#: marker keys of a map whose entries were dropped
OMITTED_KEY = "(omitted)"
ALL_KEY = "(all)"

_SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # most severe first
_ACTIONS: tuple[Action, ...] = get_args(Action)  # strongest first
_SEVERITY_SET: frozenset[object] = frozenset(_SEVERITIES)
_ACTION_SET: frozenset[object] = frozenset(_ACTIONS)
#: subject keys kept first when the subject is cut (env and identity decide alerts and filters)
_SUBJECT_FIRST = ("env", "app_id", "source_db", "target_db", "version")


def request_id(value: object) -> str:
    """The request id as recorded."""
    return cap(as_text(value), REQUEST_ID_CHARS)


def is_large(decision: Decision) -> bool:
    """True when bounding this decision is real work (thousands of reasons or digests): the
    event loop hands such a decision to a thread instead of encoding it itself."""
    d = decision
    lists = _len(d.reasons) + _len(d.warnings) + _len(d.audited)
    return lists > MAX_KEPT_REASONS or _len(d.digests) > 256 or _len(d.subject) > 64


def _len(value: object) -> int:
    # what a Decision holds, without the Sized ABC check: is_large 1.0 -> 0.57 us (measured)
    if isinstance(value, (tuple, dict, list)):
        return len(value)
    return len(value) if isinstance(value, Sized) else 0


def bounded(decision: Decision) -> Decision:
    """`decision` itself when it already fits (the usual case, cheap to tell), else a copy whose
    record fits: same verdict, bounded and encodable fields."""
    update = {
        "request_id": request_id(decision.request_id),
        "decision": decision.decision if decision.decision in ("ALLOW", "BLOCK") else "BLOCK",
        "subject": subject(decision.subject),
        "digests": digests(decision.digests),
        "reasons": reason_list(decision.reasons, "reasons"),
        "warnings": reason_list(decision.warnings, "warnings"),
        "audited": reason_list(decision.audited, "audited"),
        "policy_bundle": cap(as_text(decision.policy_bundle), POLICY_BUNDLE_CHARS),
    }
    if all(value is getattr(decision, name) for name, value in update.items()):
        return decision
    return decision.model_copy(update=update)


#: canonical JSON spends at most this many bytes on one character (astral: two `\\uXXXX`)
_MAX_BYTES_PER_CHAR = 12


def _size(value: Any) -> int:
    return len(canonical_json(value))


def _entries(value: object) -> list[tuple[object, object]]:
    if isinstance(value, Mapping):
        return list(value.items())
    return [] if value is None else [("(value)", value)]


_MAP_RESERVE = len(canonical_json({OMITTED_KEY: "x" * 40, ALL_KEY: "sha256:" + "0" * 64}))


def _fits_map(value: object, key_chars: int, value_chars: int, budget: int) -> bool:
    """True when a str -> str map is within every cap whatever its characters (no encoding)."""
    if not isinstance(value, dict):
        return False
    chars = 0
    for key, item in value.items():
        if not (fits(key, key_chars) and fits(item, value_chars)):
            return False
        chars += len(key) + len(item)
    return chars * _MAX_BYTES_PER_CHAR + 6 * len(value) + 2 <= budget - _MAP_RESERVE


def _bounded_map(
    entries: list[tuple[object, object]], key_chars: int, value_chars: int, budget: int
) -> dict[str, str]:
    """Entries (in the given order) while they fit; past that, the two marker entries."""
    out: dict[str, str] = {}
    reserve = _MAP_RESERVE
    used, dropped, full = 2, 0, False
    for key, value in entries:
        k, v = cap(as_text(key), key_chars), cap(as_text(value), value_chars)
        size = _size(k) + _size(v) + 2
        full = full or used + size > budget - reserve
        if full or k in out:  # past the budget, or a key that only differed before `cap`
            dropped += 1
            continue
        out[k] = v
        used += size
    if dropped:
        out[OMITTED_KEY] = f"{dropped} of {len(entries)} entries not kept"
        out[ALL_KEY] = digest_of({as_text(k): as_text(v) for k, v in entries})
    return out


def subject(value: object) -> dict[str, str]:
    """Subject as recorded: str -> str; env and identity first when it must be cut."""
    if _fits_map(value, SUBJECT_KEY_CHARS, SUBJECT_VALUE_CHARS, BUDGET["subject"]):
        return value  # type: ignore[return-value]  # _fits_map checked dict[str, str]
    entries = _entries(value)
    order = {k: i for i, k in enumerate(_SUBJECT_FIRST)}
    entries.sort(key=lambda kv: order.get(kv[0], len(order)) if isinstance(kv[0], str) else 99)
    return _bounded_map(entries, SUBJECT_KEY_CHARS, SUBJECT_VALUE_CHARS, BUDGET["subject"])


def digests(value: object) -> dict[str, str]:
    """Digests as recorded; past the budget, `(all)` is the SHA-256 of the full map."""
    if _fits_map(value, DIGEST_KEY_CHARS, DIGEST_VALUE_CHARS, BUDGET["digests"]):
        return value  # type: ignore[return-value]  # _fits_map checked dict[str, str]
    return _bounded_map(_entries(value), DIGEST_KEY_CHARS, DIGEST_VALUE_CHARS, BUDGET["digests"])


def _field(reason: object, name: str, default: object = None) -> object:
    if isinstance(reason, Reason):  # the usual case first: a concrete class check is cheap
        return getattr(reason, name, default)
    if isinstance(reason, Mapping):
        return reason.get(name, default)
    return getattr(reason, name, default)


def reason(value: object) -> Reason:
    """One reason as recorded; a valid, bounded Reason is returned as it is."""
    if (
        isinstance(value, Reason)
        and value.severity in _SEVERITIES
        and value.action in _ACTIONS
        and (value.file is None or fits(value.file, REASON_CHARS["file"]))
        and fits(value.policy, REASON_CHARS["policy"])
        and fits(value.field, REASON_CHARS["field"])
        and fits(value.message, REASON_CHARS["message"])
    ):
        return value
    file = _field(value, "file")
    return Reason.model_construct(
        policy=cap(as_text(_field(value, "policy", "")), REASON_CHARS["policy"]),
        severity=severity_of(value),
        field=cap(as_text(_field(value, "field", "")), REASON_CHARS["field"]),
        message=cap(as_text(_field(value, "message", "")), REASON_CHARS["message"]),
        file=None if file is None else cap(as_text(file), REASON_CHARS["file"]),
        action=action_of(value),
    )


def _raw(value: object) -> object:
    """A reason as decided, for the digest of a full list (its JSON, as the door returned it).

    The fields of a Reason are its `model_dump(mode="json")` (all str or None), 20x cheaper.
    """
    if isinstance(value, Reason):
        return {
            "policy": value.policy,
            "severity": value.severity,
            "field": value.field,
            "message": value.message,
            "file": value.file,
            "action": value.action,
        }
    return value


def policy_of(value: object) -> str:
    """A reason's policy id as recorded, without normalising the whole reason."""
    policy = _field(value, "policy", "")
    if isinstance(policy, str) and fits(policy, REASON_CHARS["policy"]):
        return policy
    return reason(value).policy


def severity_of(value: object) -> Severity:
    """A reason's severity as recorded (an unknown one as "high")."""
    severity = _field(value, "severity", "high")
    return (
        cast(Severity, severity)
        if isinstance(severity, str) and severity in _SEVERITY_SET
        else "high"
    )


def action_of(value: object) -> Action:
    """A reason's action as recorded (an unknown one as "enforce")."""
    action = _field(value, "action", "enforce")
    return cast(Action, action) if isinstance(action, str) and action in _ACTION_SET else "enforce"


def reason_list(values: Iterable[object], name: str) -> tuple[Reason, ...]:
    """The first reasons that fit (at most MAX_KEPT_REASONS), then one summary of the rest."""
    items = tuple(values)
    budget = BUDGET[name] - SUMMARY_RESERVE
    if len(items) <= MAX_KEPT_REASONS:
        chars = 0
        for item in items:
            one = reason(item)
            if one is not item:
                break
            chars += len(one.policy) + len(one.field) + len(one.message) + len(one.file or "") + 32
        else:
            if chars * _MAX_BYTES_PER_CHAR <= budget:
                # every item is a bounded Reason; `items` is `values` itself when it is a tuple
                return cast(tuple[Reason, ...], items)
    kept: list[Reason] = []
    used = 2
    for index, item in enumerate(items):
        one = reason(item)
        size = _size(dict(one)) + 1
        if len(kept) >= MAX_KEPT_REASONS or used + size > budget:
            return (*kept, _summary(items, index, name))
        kept.append(one)
        used += size
    return tuple(kept)


def _summary(items: tuple[object, ...], first_omitted: int, name: str) -> Reason:
    omitted = items[first_omitted:]
    counts = Counter(policy_of(item) for item in omitted)
    named = ", ".join(f"{cap(p, 64)} x{n}" for p, n in counts.most_common(MAX_SUMMARY_POLICIES))
    if len(counts) > MAX_SUMMARY_POLICIES:
        named += f", and {len(counts) - MAX_SUMMARY_POLICIES} other policies"
    severity = min({_SEVERITIES.index(severity_of(item)) for item in omitted}, default=1)
    action = min({_ACTIONS.index(action_of(item)) for item in omitted}, default=0)
    full = digest_of([_raw(item) for item in items])
    message = (
        f"and {len(omitted)} more {name} not kept in this record (the first {first_omitted} of "
        f"{len(items)} are; all {len(items)} as decided: {full}); policies: {named}"
    )
    return Reason.model_construct(
        policy=OMITTED_POLICY,
        severity=_SEVERITIES[severity],
        field=name,
        message=cap(message, SUMMARY_CHARS),
        file=None,
        action=_ACTIONS[action],
    )
