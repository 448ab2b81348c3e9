"""The one-pass multipart split must give exactly python-multipart's parts, limits and errors.

Each body is parsed twice: by `MultipartReader.write_whole` (the split) and by the streaming
python-multipart path in several chunkings; whenever the split accepts a body, both outcomes
(parts, filenames, bytes, end flag, or the HTTP error) must be identical. The plain bodies every
client sends must be accepted, so the fast path is really exercised.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from python_multipart.multipart import parse_options_header
from starlette.requests import ClientDisconnect

from tests.unit.server.support import asgi_post
from webhook.server.http import HTTPError
from webhook.server.uploads import (
    WHOLE_BODY_BYTES,
    MultipartReader,
    content_type_options,
    receive_multipart,
    split_multipart,
)

B = b"XyZbnd42"
MIGRATION = frozenset(
    {"migration_manifest.json", "app-config.yaml", "migration_manifest.dsse.json"}
)
Outcome = tuple[str, object]


def part(name: str, data: bytes, filename: str | None = None, extra: bytes = b"") -> bytes:
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{B.decode()}\r\nContent-Disposition: {disp}\r\n".encode() + extra
    return head + b"\r\n" + data + b"\r\n"


def plain(*parts: bytes, epilogue: bytes = b"\r\n") -> bytes:
    return b"".join(parts) + b"--" + B + b"--" + epilogue


def reader(spool: Path, max_small: int = 4096) -> MultipartReader:
    return MultipartReader(
        boundary=B,
        spool=spool,
        allowed=MIGRATION,
        to_disk=frozenset(),
        wal_field=None,
        max_small_part=max_small,
    )


def outcome(r: MultipartReader) -> Outcome:
    parts = {k: (p.filename, bytes(p.data or b""), p.done) for k, p in r.files.items()}
    return ("ok", (parts, r.ended))


def streamed(spool: Path, body: bytes, chunk: int, max_small: int) -> Outcome:
    r = reader(spool, max_small)
    try:
        for i in range(0, len(body), chunk):
            r.write(body[i : i + chunk])
    except HTTPError as exc:
        return ("error", (exc.status, exc.error, exc.detail))
    return outcome(r)


def whole(spool: Path, body: bytes, max_small: int) -> Outcome | None:
    r = reader(spool, max_small)
    try:
        if not r.write_whole(body):
            return None
    except HTTPError as exc:
        return ("error", (exc.status, exc.error, exc.detail))
    return outcome(r)


def check(spool: Path, body: bytes, max_small: int = 4096) -> bool:
    """True when the split took the body; its outcome then equals every streamed one."""
    fast = whole(spool, body, max_small)
    for chunk in (len(body) or 1, 1, 3, 64):
        slow = streamed(spool, body, chunk, max_small)
        if fast is not None:
            assert fast == slow, (body, chunk)
    return fast is not None


MANIFEST = part("migration_manifest.json", b'{"app_id": "payments"}\n', "m.json")
CONFIG = part("app-config.yaml", b"a: 1\r\n--XyZbnd4\r\n\r\n", "c.yaml")  # near-boundary data
SIGNATURE = part("migration_manifest.dsse.json", b"", None)  # empty part

ACCEPTED = {
    "three parts": plain(MANIFEST, CONFIG, SIGNATURE),
    "no epilogue": plain(MANIFEST, epilogue=b""),
    "epilogue ignored": plain(MANIFEST, epilogue=b"\r\ntrailing junk\r\n--XyZbnd42\r\n"),
    "extra headers, no space": plain(
        part("app-config.yaml", b"x", "c", extra=b"Content-Type:application/yaml\r\nX-A:  b \r\n")
    ),
    "header name case": plain(
        b"--" + B + b"\r\ncontent-DISPOSITION: form-data; name=app-config.yaml\r\n\r\nv\r\n"
    ),
    "unknown part": plain(MANIFEST, part("nope", b"1")),
    "duplicate part": plain(MANIFEST, MANIFEST),
    "part over the limit": plain(part("app-config.yaml", b"x" * 5000)),
    "no disposition": plain(f"--{B.decode()}\r\nContent-Type: a/b\r\n\r\nx\r\n".encode()),
    "no headers at all": plain(f"--{B.decode()}\r\n\r\nx\r\n".encode()),
    "not form-data": plain(f"--{B.decode()}\r\nContent-Disposition: inline\r\n\r\nx\r\n".encode()),
    "duplicate header, last wins": plain(
        part("nope", b"1", extra=b'Content-Disposition: form-data; name="app-config.yaml"\r\n')
    ),
}

DECLINED = {
    "preamble": b"\r\n" + plain(MANIFEST),
    "truncated": plain(MANIFEST, CONFIG)[:-12],
    "no closing boundary": MANIFEST,
    "padding after boundary": plain(MANIFEST).replace(
        b"--XyZbnd42\r\nContent", b"--XyZbnd42  \r\nContent", 1
    ),
    "lf-only lines": plain(MANIFEST).replace(b"\r\n", b"\n"),
    "bad header name": plain(part("app-config.yaml", b"x", extra=b"Bad Name: 1\r\n")),
    "header without colon": plain(part("app-config.yaml", b"x", extra=b"NoColon\r\n")),
    "lf inside a header": plain(part("app-config.yaml", b"x", extra=b"X-A: 1\n2\r\n")),
    "too many headers": plain(part("app-config.yaml", b"x", extra=b"X-A: 1\r\n" * 9)),
    "boundary-like data line": plain(part("app-config.yaml", b"a\r\n--XyZbnd42X b")),
    "empty message": b"--" + B + b"--\r\n",
    "wrong boundary": plain(MANIFEST).replace(B, b"other", 1),
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_plain_bodies_take_the_split_with_identical_outcomes(tmp_path: Path, name: str) -> None:
    assert check(tmp_path, ACCEPTED[name])


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_odd_bodies_are_left_to_python_multipart(tmp_path: Path, name: str) -> None:
    assert split_multipart(DECLINED[name], B) is None
    assert not check(tmp_path, DECLINED[name])


def test_split_gives_the_exact_data_spans() -> None:
    body = plain(MANIFEST, CONFIG, SIGNATURE)
    spans = split_multipart(body, B)
    assert spans is not None
    assert [body[s:e] for _, s, e in spans] == [
        b'{"app_id": "payments"}\n',
        b"a: 1\r\n--XyZbnd4\r\n\r\n",
        b"",
    ]
    assert spans[0][0][0] == (
        b"Content-Disposition",
        b'form-data; name="migration_manifest.json"; filename="m.json"',
    )


def test_mutated_bodies_never_diverge(tmp_path: Path) -> None:
    """Random edits at the syntax that matters: accepted or not, never a different outcome."""
    rng = random.Random(20261125)
    tokens = [b"\r\n", b"\r", b"\n", b"--", B, b":", b" ", b"\t", b"x", b"\r\n\r\n", b"-" + B]
    base = plain(MANIFEST, CONFIG, SIGNATURE)
    accepted = 0
    for _ in range(600):
        body = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body) + 1)
            if rng.random() < 0.5:
                body[at:at] = rng.choice(tokens)
            else:
                del body[at : at + rng.randint(1, 4)]
        accepted += check(tmp_path, bytes(body), max_small=64)
    assert accepted > 50  # the comparison really ran on accepted bodies


def _chunks(*pieces: bytes, disconnect: bool = False) -> tuple[list[bytes], bool]:
    return list(pieces), disconnect


def _read(tmp: Path, chunks: tuple[list[bytes], bool], *, max_total: int = 1 << 30) -> object:
    scope, receive = asgi_post(
        chunks[0], f"multipart/form-data; boundary={B.decode()}", disconnect=chunks[1]
    )

    async def go() -> object:
        upload = await receive_multipart(
            scope,
            receive,
            tmp_root=tmp,
            allowed=MIGRATION,
            to_disk=frozenset(),
            wal_field=None,
            max_total=max_total,
            max_small_part=4096,
        )
        await upload.close()
        return {k: p.value() for k, p in upload.files.items()}

    return asyncio.run(go())


def test_receive_multipart_joins_chunks_and_keeps_the_order_of_errors(tmp_path: Path) -> None:
    body = plain(MANIFEST, CONFIG)
    got = _read(tmp_path, _chunks(body[:5], body[5:100], body[100:]))
    assert got == {
        "migration_manifest.json": b'{"app_id": "payments"}\n',
        "app-config.yaml": b"a: 1\r\n--XyZbnd4\r\n\r\n",
    }
    # a bad part in the first chunk beats a size overflow in the second, as when streaming
    bad = plain(part("nope", b"1"))
    with pytest.raises(HTTPError) as err:
        _read(tmp_path, _chunks(bad, b"x" * 100), max_total=len(bad) + 10)
    assert (err.value.status, err.value.error) == (400, "malformed-multipart")
    with pytest.raises(HTTPError) as err:
        _read(tmp_path, _chunks(body[:10], body[10:]), max_total=len(body) - 1)
    assert err.value.status == 413 and "over the" in err.value.detail
    # the chunks that arrived before a disconnect are parsed first
    with pytest.raises(HTTPError) as err:
        _read(tmp_path, _chunks(bad[:60], disconnect=True))
    assert err.value.status == 400
    with pytest.raises(ClientDisconnect):
        _read(tmp_path, _chunks(body[:5], disconnect=True))
    with pytest.raises(HTTPError) as err:
        _read(tmp_path, _chunks(body[:-20]))
    assert "truncated" in err.value.detail
    assert not list(tmp_path.iterdir())  # no spool left behind


def test_bodies_over_the_hold_limit_stream(tmp_path: Path) -> None:
    big = b"y" * (WHOLE_BODY_BYTES + 10)
    body = plain(part("app-config.yaml", big))
    with pytest.raises(HTTPError) as err:  # the per-part limit still applies mid-stream
        _read(tmp_path, _chunks(*(body[i : i + 65536] for i in range(0, len(body), 65536))))
    assert err.value.status == 413 and "app-config.yaml" in err.value.detail


def test_content_type_short_cut_matches_python_multipart() -> None:
    rng = random.Random(7)
    alphabet = ["multipart", "/", "form-data", ";", "=", " ", "\t", '"', "\\", "*", "boundary"]
    alphabet += ["B", "x", "filename", ":", "é"]
    samples = ["", "multipart/form-data; boundary=abc", "Multipart/Form-Data;BOUNDARY = q "]
    samples += ["a; =b", "a;", "a;b=", "a=b; c=d", 'a; b="q;r"', "a; b*=1", "text/plain"]
    samples += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(20000)
    ]
    for value in samples:
        assert content_type_options(value) == parse_options_header(value), value
