"""orjson on the admission path: same documents, same bytes, same errors as the stdlib.

`parse_json` must read every body exactly as `json.loads` does (values, types, key order) or
hand it to `json.loads`; the response and access-line writers must emit the very bytes the
stdlib wrote; and a cache key must never mistake one document for another.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_examples_parity import migration_request
from tests.unit.server.support import key_of
from webhook.audit import AuditQuery, open_store
from webhook.contracts.decision import Decision, Reason
from webhook.pipelines import Engine
from webhook.server.admission import ADMISSION_PATH, build_response, response_bytes
from webhook.server.admission_types import AdmissionUID
from webhook.server.app import build_apps
from webhook.server.cache import object_material
from webhook.server.gate import GateState
from webhook.server.http import json_bytes, parse_json
from webhook.server.settings import ServerSettings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GROUP = "migrationgate.io"


def same(a: object, b: object) -> bool:
    """Equal with the same types and key order all the way down (1 != 1.0, {a,b} != {b,a})."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return a == b


def stdlib(body: bytes) -> tuple[str, object]:
    try:
        return "ok", json.loads(body)
    except (ValueError, RecursionError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def fast(body: bytes) -> tuple[str, object]:
    try:
        return "ok", parse_json(body)[0]
    except (ValueError, RecursionError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def review_body(uid: str = "u-1") -> bytes:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": GROUP, "version": "v1alpha1", "kind": "MigrationRequest"},
            "operation": "CREATE",
            "object": migration_request(EXAMPLES / "t1_good"),
        },
    }
    return json.dumps(review).encode()


@pytest.mark.parametrize(
    ("body", "plain"),
    [
        (b'{"a": 1, "b": [1.5, -0.0, 1e-400, true, null, "\\u00e9\\ud83d\\ude00"]}', True),
        (b'{"a": 1, "b": 2, "a": 3}', True),  # duplicate key: last value, first position
        (b"-0", True),
        (b'"\x7f\\u0000"', True),
        (b"9223372036854775807", True),  # 19 digits, but the scan is for any 19-digit run: stdlib
        (b"18446744073709551616", False),  # beyond 64 bits: orjson would make it a float
        (b"-9223372036854775809", False),
        (b'{"n": 123456789012345678901234567890}', False),
        (b"[1e400, -1e400]", False),  # stdlib: inf; orjson refuses
        (b"[NaN, Infinity]", False),
        (b'"\\ud800"', False),  # lone surrogate
        (b"\xef\xbb\xbf{}", False),  # UTF-8 BOM
        ('{"a": "\u00e9"}'.encode("utf-16"), False),
        (b'"\xed\xa0\x80"', False),  # an encoded surrogate: the stdlib's surrogatepass
    ],
)
def test_parse_json_reads_exactly_what_the_stdlib_reads(body: bytes, plain: bool) -> None:
    doc, got_plain = parse_json(body)
    assert same(doc, json.loads(body)) or (doc != doc)  # NaN is not equal to itself
    assert got_plain is (plain and b"9223372036854775807" not in body)


@pytest.mark.parametrize(
    "body",
    [b"", b"{", b"{nope", b"[1,]", b'{"a":1}x', b"01", b"1.", b'"\x01"', b"\xff", b"[" * 5000],
)
def test_parse_json_fails_with_the_stdlib_error(body: bytes) -> None:
    assert fast(body) == stdlib(body)
    assert fast(body)[0] == "error"


def test_parse_json_floats_round_trip_like_the_stdlib() -> None:
    rng = random.Random(7)
    for _ in range(20000):
        x = rng.random() * 10 ** rng.randint(-320, 308)
        for text in (repr(x), f"{x:.17e}", f"{x:.30f}", f"{-x:.3g}"):
            body = text.encode()
            assert same(parse_json(body)[0], json.loads(body)), text


def test_parse_json_matches_the_stdlib_on_mutated_reviews() -> None:
    """Random byte edits of a real review: same document or the same error, every time."""
    base = review_body()
    rng = random.Random(11)
    alphabet = b'{}[]",:0123456789-+.eE \\ntrufalsenul\x00\xff\xc3\xa9'
    for _ in range(3000):
        body = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(body))
            op = rng.randrange(3)
            if op == 0:
                body[at] = rng.choice(alphabet)
            elif op == 1:
                del body[at]
            else:
                body[at:at] = bytes([rng.choice(alphabet)]) * rng.randint(1, 25)
        data = bytes(body)
        got, want = fast(data), stdlib(data)
        assert got[0] == want[0], data
        if got[0] == "ok":
            assert same(got[1], want[1])
        else:
            assert got == want


def test_a_real_review_takes_the_fast_parser() -> None:
    doc, plain = parse_json(review_body())
    assert plain and same(doc, json.loads(review_body()))


def _decision(verdict: str, reasons: tuple[Reason, ...], warnings: tuple[Reason, ...]) -> Decision:
    return Decision(
        request_id="r\u00e9q-1",
        timestamp="2026-01-01T00:00:00.000000Z",
        scenario="T1",
        decision=verdict,  # type: ignore[arg-type]
        reasons=reasons,
        warnings=warnings,
        policy_bundle="sha256:" + "0" * 64,
    )


def test_response_bytes_are_the_stdlib_bytes() -> None:
    odd = "".join(chr(c) for c in range(0x00, 0x250)) + '\u2028\u2029\U0001f600\ufeff"\\'
    reason = Reason(policy="no-root", severity="high", field="f\n", message=odd, file="x\ty")
    warning = Reason(
        policy="tls-min-version", severity="low", field="w", message=odd, action="warn"
    )
    for decision in (
        None,
        _decision("ALLOW", (), ()),
        _decision("ALLOW", (), (warning,)),
        _decision("BLOCK", (reason, reason), (warning,)),
    ):
        for uid in ("u-1", odd[:128]):
            review = build_response(AdmissionUID(uid), decision)
            assert response_bytes(review) == json_bytes(review)


def test_response_bytes_fail_like_the_stdlib_on_a_lone_surrogate() -> None:
    review = build_response(AdmissionUID("\ud800"), None)
    with pytest.raises(UnicodeEncodeError):
        json_bytes(review)
    with pytest.raises(UnicodeEncodeError):
        response_bytes(review)


def key(spec: Any, *, plain: bool) -> str | None:
    obj = {"spec": spec}
    return key_of(object_material("MigrationRequest", obj, label=None, plain=plain))


def test_object_material_writers_are_faithful_and_kept_apart() -> None:
    mr = migration_request(EXAMPLES / "t1_good")
    fast_key, std_key = key(mr["spec"], plain=True), key(mr["spec"], plain=False)
    assert fast_key is not None and std_key is not None and fast_key != std_key
    # values orjson cannot write faithfully only ever come from the stdlib parser
    assert key({"n": float("nan")}, plain=False) != key({"n": None}, plain=False)
    assert key({"n": 2**70}, plain=False) != key({"n": float(2**70)}, plain=False)
    assert key({"n": 1}, plain=True) != key({"n": 1.0}, plain=True)
    assert key({"n": -0.0}, plain=True) != key({"n": 0.0}, plain=True)
    assert key({"a": 1, "b": 2}, plain=True) != key({"b": 2, "a": 1}, plain=True)
    assert key({"s": "\u00e9"}, plain=True) != key({"s": "\\u00e9"}, plain=True)
    assert key({"n": 2**70}, plain=True) is None  # never produced by orjson; not cacheable


def test_the_door_answers_alike_whichever_parser_read_the_body(tmp_path: Path) -> None:
    """Same review with and without a 64-bit-overflowing number outside the spec: the stdlib
    parses the second; both are decided alike, hit the cache on repeat, and are audited."""
    settings = ServerSettings(state_dir=tmp_path)
    store = open_store(tmp_path / "a.db")
    state = GateState(engine=Engine.load(None, EXAMPLES / "t1_good" / "trust"), store=store)
    apps = build_apps(settings, state, None)
    plain = review_body("p1")
    assert parse_json(plain)[1]
    huge = plain.replace(b'"namespace": "payments"', b'"namespace": "payments", "n": 1' + b"0" * 30)
    assert huge != plain and not parse_json(huge)[1]
    bodies = [plain, plain.replace(b'"p1"', b'"p2"'), huge.replace(b'"p1"', b'"h1"'),
              huge.replace(b'"p1"', b'"h2"')]  # fmt: skip

    async def main() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=apps.admission)
        json_type = {"Content-Type": "application/json"}
        async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
            return [await c.post(ADMISSION_PATH, content=b, headers=json_type) for b in bodies]

    try:
        answers = asyncio.run(main())
    finally:
        apps.gate.close()
    assert [a.status_code for a in answers] == [200] * 4
    for answer, uid in zip(answers, ("p1", "p2", "h1", "h2"), strict=True):
        assert answer.json()["response"] == {"uid": uid, "allowed": True}
        (record,) = store.query(AuditQuery(request_id=uid)).records
        assert record.decision == "ALLOW"
    # p2 hits p1's object key, h2 hits h1's; h1 (other writer, so another object key) is
    # decided afresh: one key per door form, no second lookup by engine inputs
    assert apps.gate.cache.hits == 2
    store.close()


def test_object_material_prefix_covers_bundle_mode_env_and_kind_for_both_writers() -> None:
    spec = migration_request(EXAMPLES / "t1_good")["spec"]
    for plain in (True, False):
        keys = {
            key_of(object_material(kind, {"spec": spec, "data": spec}, label="migration",
                                   plain=plain), identity=bundle, dry_run=dry, env=env)
            for kind in ("MigrationRequest", "ConfigMap")
            for bundle in ("sha256:a", "sha256:b")
            for dry in (True, False)
            for env in ("prod", "staging")
        }  # fmt: skip
        assert len(keys) == 16 and None not in keys
        again = key_of(object_material("MigrationRequest", {"spec": spec}, label=None,
                                       plain=plain), identity="sha256:a", dry_run=True,
                       env="staging")  # fmt: skip
        assert again in keys  # the cached prefix state is copied, never consumed
