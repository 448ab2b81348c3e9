"""Fuzz targets: one function per parser, each with its oracle. Shared by atheris and pytest.

Every target takes raw bytes. An `AssertionError` is an oracle violation (a bug); any exception
other than the parser's documented error type is a crash (also a bug). The four targets:

- `loaders`: strict JSON/YAML (webhook/contracts/strict.py). Oracle: what the gate accepts, the
  stdlib `json` / PyYAML's `CSafeLoader` read identically, and it is JSON-compatible data.
- `tar`: the streaming tar.gz inspector (webhook/integrity/archive/), the bytes gzipped
  first. Differential oracle: Python's `tarfile` on the same bytes. An archive the gate finds
  clean must parse in `tarfile` with the same member count, every member must pass
  `tarfile.data_filter`, be a file/dir/link, appear once, and SHA256SUMS must vouch for what
  `tarfile` would extract. The gate may refuse more, never accept what `tarfile` reads otherwise.
- `multipart`: the one-pass splitter (webhook/server/uploads.py `split_multipart`). Oracle:
  python-multipart's parser makes the very same parts whenever the splitter answers.
- `dsse`: envelope parsing and verification (webhook/integrity/dsse.py). Oracle: a verified
  envelope carries exactly a (payloadType, payload) the trusted TEST key really signed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import os
import tarfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


# ---- loaders -------------------------------------------------------------------------------


def _json_compatible(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_compatible(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_compatible(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


def loaders(data: bytes) -> None:
    from webhook.contracts.strict import load_json, load_yaml
    from webhook.errors import InputError

    try:
        got = load_json(data, source="fuzz.json")
    except InputError:
        pass
    else:
        assert _json_compatible(got), f"load_json returned non-JSON data {got!r}"
        assert got == json.loads(data.decode("utf-8").removeprefix("\ufeff")), "json differs"
    try:
        doc = load_yaml(data, source="fuzz.yaml")
    except InputError:
        return
    assert _json_compatible(doc), f"load_yaml returned non-JSON-compatible data {doc!r}"
    text = data.decode("utf-8").removeprefix("\ufeff")
    # the same C parser (libyaml), PyYAML's own safe constructor: the gate's builder must agree
    want = yaml.load(text, Loader=yaml.CSafeLoader)
    assert doc == want, f"load_yaml read {doc!r}, yaml.CSafeLoader {want!r}"


# ---- tar -----------------------------------------------------------------------------------


def _sums(raw: bytes) -> dict[str, str]:
    out = {}
    for line in raw.decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition(" ")
        out[name[1:] if name[:1] in (" ", "*") else name] = digest.lower()
    return out


def _norm(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def tar(data: bytes) -> None:
    """`data` is an uncompressed tar stream: gzip is not what this target explores."""
    from webhook.integrity import inspect_targz

    blob = gzip.compress(data, compresslevel=1, mtime=0)
    report = inspect_targz(io.BytesIO(blob), file="fuzz.tar.gz")
    if not report.ok:
        return
    strict = os.environ.get("MG_FUZZ_STRICT") == "1"
    try:
        members, files, sums = _tarfile_view(data, lenient=False)
    except _TAR_ERRORS as exc:
        if not strict and report.members == 0:
            return  # known, reported (regressions/tar/pax-header-then-end-of-archive)
        if strict:
            raise AssertionError(f"gate found the archive clean, tarfile fails: {exc!r}") from None
        try:  # known, reported (regressions/tar/garbage-in-unused-numeric-field)
            members, files, sums = _tarfile_view(data, lenient=True)
        except _TAR_ERRORS:
            raise AssertionError(f"gate found the archive clean, tarfile fails: {exc!r}") from None
    assert len(members) == report.members, (
        f"gate counted {report.members} members, tarfile {len(members)}"
    )
    names = [_norm(m.name) for m in members]
    assert len(set(names)) == len(names), f"a member name appears twice: {names}"
    for m in members:
        assert m.isreg() or m.isdir() or m.issym() or m.islnk(), f"{m.name}: type {m.type!r}"
        try:
            tarfile.data_filter(m, "/nonexistent/dest")
        except tarfile.FilterError as exc:
            raise AssertionError(
                f"gate found clean, tarfile's data filter refuses: {exc}"
            ) from None
    if sums is not None:
        listed = _sums(sums)
        for name, digest in files.items():
            if name != "SHA256SUMS":
                assert listed.get(_norm(name)) == digest or listed.get(name) == digest, (
                    f"{name}: tarfile extracts sha256 {digest}, SHA256SUMS says {listed.get(name)}"
                )


_TAR_ERRORS = (tarfile.TarError, EOFError, OSError, UnicodeError, ValueError)


def _lenient_nti(raw: bytes) -> int:
    try:
        return int(_STRICT_NTI(raw))
    except tarfile.InvalidHeaderError:
        return 0


_STRICT_NTI = tarfile.nti


def _tarfile_view(
    data: bytes, *, lenient: bool
) -> tuple[list[tarfile.TarInfo], dict[str, str], bytes | None]:
    """tarfile's members, regular files' sha256 and SHA256SUMS bytes.

    `lenient`: unparsable numeric fields read as 0 (tarfile refuses the whole archive for a bad
    `devminor` in a regular file's header, which the gate does not read).
    """
    if lenient:
        tarfile.nti = _lenient_nti  # type: ignore[assignment]
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            members = tf.getmembers()
            files: dict[str, str] = {}
            sums = None
            for m in members:
                fh = tf.extractfile(m) if m.isreg() else None
                if fh is None:
                    continue
                body = fh.read()
                files[m.name] = hashlib.sha256(body).hexdigest()
                if m.name == "SHA256SUMS":
                    sums = body
            return members, files, sums
    finally:
        tarfile.nti = _STRICT_NTI


# ---- multipart -----------------------------------------------------------------------------

BOUNDARY = b"FuzzBoundary"


def _reference_parts(body: bytes, boundary: bytes) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    from python_multipart.multipart import MultipartParser

    parts: list[tuple[list[tuple[bytes, bytes]], bytes]] = []
    field, value = bytearray(), bytearray()
    state: dict[str, Any] = {}

    def begin() -> None:
        parts.append(([], b""))
        state["data"] = bytearray()

    def hfield(d: bytes, s: int, e: int) -> None:
        field.extend(d[s:e])

    def hvalue(d: bytes, s: int, e: int) -> None:
        value.extend(d[s:e])

    def hend() -> None:
        parts[-1][0].append((bytes(field), bytes(value)))
        field.clear()
        value.clear()

    def pdata(d: bytes, s: int, e: int) -> None:
        state["data"].extend(d[s:e])

    def pend() -> None:
        parts[-1] = (parts[-1][0], bytes(state["data"]))

    cbs = {
        "on_part_begin": begin,
        "on_header_field": hfield,
        "on_header_value": hvalue,
        "on_header_end": hend,
        "on_part_data": pdata,
        "on_part_end": pend,
    }
    parser = MultipartParser(boundary, cbs)  # type: ignore[arg-type]
    parser.write(body)
    parser.finalize()
    return parts


def multipart(data: bytes) -> None:
    from python_multipart.exceptions import FormParserError

    from webhook.server.uploads import split_multipart

    got = split_multipart(data, BOUNDARY)
    if got is None:
        return  # the splitter declined: python-multipart decides, as in the door
    try:
        want = _reference_parts(data, BOUNDARY)
    except FormParserError as exc:
        raise AssertionError(f"splitter answered, python-multipart refuses: {exc}") from None
    mine = [([(k, v) for k, v in h], data[s:e]) for h, s, e in got]
    assert len(mine) == len(want), f"splitter made {len(mine)} parts, python-multipart {len(want)}"
    for (h1, d1), (h2, d2) in zip(mine, want, strict=True):
        assert d1 == d2, "part data differs"
        assert [(k.lower(), v.strip()) for k, v in h1] == [(k.lower(), v.strip()) for k, v in h2], (
            f"headers differ: {h1} vs {h2}"
        )


# ---- dsse ----------------------------------------------------------------------------------


@cache
def _trust() -> Any:
    from webhook.integrity import TrustStore

    return TrustStore.from_dir(EXAMPLES / "t1_good" / "trust")


@cache
def _signed() -> frozenset[tuple[str, bytes]]:
    """Every (payloadType, payload) that a real example envelope has the trusted key sign."""
    from webhook.errors import GateError
    from webhook.integrity import parse_envelope, verify_envelope

    out = set()
    for path in EXAMPLES.glob("*/*.dsse.json"):
        env = parse_envelope(path.read_bytes(), file=path.name)
        try:
            verify_envelope(env, _trust(), payload_type=env.payloadType, file=path.name)
        except GateError:
            continue
        out.add((env.payloadType, env.payload))
    return frozenset(out)


def dsse(data: bytes) -> None:
    from webhook.errors import GateError
    from webhook.integrity import parse_envelope, verify_envelope

    try:
        env = parse_envelope(data, file="fuzz.dsse.json")
    except GateError:
        return
    try:
        verified = verify_envelope(
            env, _trust(), payload_type=env.payloadType, file="fuzz.dsse.json"
        )
    except GateError:
        return
    assert (env.payloadType, verified.payload) in _signed(), (
        f"a mutated envelope verified: {env.payloadType!r} {verified.payload[:80]!r}"
    )


TARGETS: dict[str, Callable[[bytes], None]] = {
    "loaders": loaders,
    "tar": tar,
    "multipart": multipart,
    "dsse": dsse,
}
#: the modules each target exercises (for the coverage report)
MODULES: dict[str, list[str]] = {
    "loaders": ["webhook/contracts/strict.py"],
    "tar": ["webhook/integrity/archive/*.py"],
    "multipart": ["webhook/server/uploads.py"],
    "dsse": ["webhook/integrity/dsse.py"],
}
