"""SHA256SUMS inside the archive: parsed strictly and compared with every regular member.

`sha256sum` format (`<hex>  <name>` or `<hex> *<name>`, `\\`-escaped names). A line that is not
that, an unsafe or repeated name, a digest that differs, a listed name that is not a regular
member (hardlinks count as the file they link) and a regular member not listed are all findings.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from typing import Final

from webhook.integrity.archive.members import unsafe_path
from webhook.integrity.archive.model import ArchiveCheck, ArchiveFinding, MiB
from webhook.integrity.archive.tar import decode

SUMS_NAME: Final = "SHA256SUMS"
#: a SHA256SUMS bigger than this is a finding, not buffered
MAX_SUMS: Final = 16 * MiB
_SUMS_LINE = re.compile(rb"([0-9a-fA-F]{64}) [ *](.+)")

#: records one finding: (check, member, message)
_Finding = Callable[[ArchiveCheck, str, str], None]


def check_sums(
    sums: bytes,
    digests: Mapping[str, bytes],
    hardlinks: Mapping[str, str],
    report: Callable[[ArchiveFinding], None],
) -> int:
    """Compare SHA256SUMS with the member digests; return how many entries matched."""

    def finding(check: ArchiveCheck, member: str, message: str) -> None:
        report(ArchiveFinding(check, member, message))

    listed = _listed(sums, finding)
    matched = _matched(listed, digests, hardlinks, finding)
    for path in digests:
        if path not in listed:
            finding("archive-checksum-mismatch", path, f"regular member not listed in {SUMS_NAME}")
    return matched


def _listed(sums: bytes, finding: _Finding) -> dict[str, str]:
    """SHA256SUMS parsed: normalised path -> lowercase hex; each bad line is a finding."""
    listed: dict[str, str] = {}
    for lineno, line in enumerate(sums.split(b"\n"), start=1):
        line = line.removesuffix(b"\r")  # noqa: PLW2901
        if not line.strip():
            continue
        escaped = line.startswith(b"\\")
        m = _SUMS_LINE.fullmatch(line[1:] if escaped else line)
        if m is None:
            finding(
                "archive-checksum-mismatch",
                SUMS_NAME,
                f"{SUMS_NAME} line {lineno} is not '<sha256>  <name>'",
            )
            continue
        raw = m.group(2)
        if escaped:
            raw = raw.replace(b"\\\\", b"\0").replace(b"\\n", b"\n").replace(b"\0", b"\\")
        name = decode(raw)
        problem = unsafe_path(raw, name)
        path = "/".join(p for p in name.split("/") if p not in ("", "."))
        if problem or not path:
            finding(
                "archive-checksum-mismatch",
                name,
                f"{SUMS_NAME} line {lineno} names an unsafe path",
            )
            continue
        if path in listed:
            finding(
                "archive-checksum-mismatch",
                name,
                f"{SUMS_NAME} lists this name twice (line {lineno})",
            )
            continue
        listed[path] = m.group(1).decode("ascii").lower()
    return listed


def _matched(
    listed: Mapping[str, str],
    digests: Mapping[str, bytes],
    hardlinks: Mapping[str, str],
    finding: _Finding,
) -> int:
    """Each listed entry against the member it names; how many matched."""
    matched = 0
    for path, want in listed.items():
        real = hardlinks.get(path, path)
        got = digests.get(real)
        if got is None:
            finding(
                "archive-checksum-mismatch",
                path,
                f"listed in {SUMS_NAME} but not a regular member of the archive",
            )
        elif not hmac.compare_digest(got.hex(), want):
            finding(
                "archive-checksum-mismatch",
                path,
                f"sha256 is {got.hex()}, {SUMS_NAME} says {want}",
            )
        else:
            matched += 1
    return matched
