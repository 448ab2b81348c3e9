"""Writes the seed corpus under tests/fuzz/corpus/<target>/ from the examples (run once, commit).

`python -m tests.fuzz.make_corpus`: the examples' JSON/YAML documents, their snapshots
decompressed, tar variants (GNU long names, pax, links), multipart bodies as the API door
receives them, and every DSSE envelope.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from tests.fuzz.targets import BOUNDARY, EXAMPLES

CORPUS = Path(__file__).resolve().parent / "corpus"


def _write(target: str, data: bytes) -> None:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def _tar(members: list[tuple[str, bytes, bytes, str]], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, kind, data, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size, info.mtime = kind, link, len(data), 1790000000
            tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return buf.getvalue()


def main() -> None:
    for f in sorted(EXAMPLES.glob("*/*")):
        if f.suffix in (".json", ".yaml") and f.name != "expected.json":
            _write("loaders", f.read_bytes())
        if f.name.endswith(".dsse.json"):
            _write("dsse", f.read_bytes())
        if f.name == "snapshot.tar.gz":
            _write("tar", gzip.decompress(f.read_bytes()))
    _write("loaders", b"a: &x [1, 2]\nb: *x\nc: {<<: {k: v}}\n")
    body = b"x" * 10
    sums = f"{hashlib.sha256(body).hexdigest()}  {'d/' + 'n' * 120}\n".encode()
    long = [
        ("d/" + "n" * 120, tarfile.REGTYPE, body, ""),
        ("SHA256SUMS", tarfile.REGTYPE, sums, ""),
    ]
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT):
        with contextlib.suppress(ValueError):
            _write("tar", _tar(long, fmt))
    links = [
        ("d", tarfile.DIRTYPE, b"", ""),
        ("d/f", tarfile.REGTYPE, b"hi", ""),
        ("d/s", tarfile.SYMTYPE, b"", "f"),
        ("d/h", tarfile.LNKTYPE, b"", "d/f"),
    ]
    _write("tar", _tar(links, tarfile.PAX_FORMAT))
    for names in (["migration_manifest.json", "app-config.yaml"], ["replication_manifest.yaml"]):
        out = b""
        for n in names:
            out += b"--" + BOUNDARY + b"\r\n"
            out += f'Content-Disposition: form-data; name="{n}"; filename="{n}"\r\n'.encode()
            out += b"Content-Type: application/octet-stream\r\n\r\n"
            out += (
                (EXAMPLES / "t1_good" / n).read_bytes() if "migration" in n or "app" in n else b"x"
            )
            out += b"\r\n"
        _write("multipart", out + b"--" + BOUNDARY + b"--\r\n")
    _write("multipart", b"--" + BOUNDARY + b"\r\n\r\nplain\r\n--" + BOUNDARY + b"--")


if __name__ == "__main__":
    main()
