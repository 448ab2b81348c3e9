"""Never echo a secret, and never echo much: fingerprints for secrets, caps for everything else.

Applied at the root: every `Reason` (and a `Decision`'s subject and step details) passes its
text through `redact_text` when it is built, so every raiser is covered, and so is every audit
record and stdout line made from one; the JSON log formatter does the same for log lines.

A fingerprint is `<redacted sha256:1a2b3c4d>`: 32 bits of a domain-separated SHA-256, stable so
that the same input gives the same decision through every door (docs/contracts.md: decisions are
deterministic), short so that it confirms little about a low-entropy secret to whoever reads it.
Everything `redact_text` produces is a fixed point: redacting it again changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from webhook.contracts.secret_shapes import KEY_BLOCK, find_secrets, is_secret_key

#: characters of any one echoed value (a quoted run in a message)
MAX_SHOWN: Final = 64
#: characters of a whole message, field path or file name
MAX_TEXT: Final = 1024
_DOMAIN = b"migration-gate/redact/v1\x00"
#: a quoted run as repr() or json.dumps write it. A quote right after a backslash never opens
#: one (else `\'\'\'...` restarts at every quote and rescans the rest: quadratic); the body is
#: possessive and its two alternatives disjoint, so each opening quote costs one scan to the
#: end of its line at most, and an unclosed one leaves no later quote able to open.
_QUOTED = re.compile(r"(?<!\\)(?:\"(?:[^\"\\\n]++|\\.)*+\"|'(?:[^'\\\n]++|\\.)*+')")
#: an unquoted number shown after "found" (`found integer 123456`)
_FOUND_NUMBER = re.compile(r"\bfound (?:integer|number) ([-+]?[0-9][0-9a-zA-Z.+_-]*+)")
#: the characters a token goes on with after the part its rule matched (possessive: one scan)
_TAIL = re.compile(r"[A-Za-z0-9_.~+/=-]*+")


def fingerprint(value: str | bytes) -> str:
    """`<redacted sha256:xxxxxxxx>` for a value that must not be shown."""
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return f"<redacted sha256:{hashlib.sha256(_DOMAIN + data).hexdigest()[:8]}>"


def cap(text: str, limit: int = MAX_SHOWN) -> str:
    """The first `limit` characters and `…(N bytes)` when text is longer."""
    if len(text) <= limit:
        return text
    size = len(text.encode("utf-8", "surrogatepass"))
    return f"{text[:limit]}…({size} bytes)"


def _mask_secrets(text: str) -> str:
    """Each hit and the rest of its token (a rule matches a token's head only: `xoxb-` and ten
    characters) become one fingerprint; a key block hides everything after its header."""
    hits = sorted({(h.start, h.end, h.what == KEY_BLOCK) for h in find_secrets(text)})
    if not hits:
        return text
    out: list[str] = []
    pos = 0
    for start, end, block in hits:
        if end <= pos:  # inside what is already masked (tested first: the tail scan runs once)
            continue
        tail = _TAIL.match(text, end)
        stop = len(text) if block else (tail.end() if tail else end)
        begin = max(start, pos)
        out.append(text[pos:begin])
        out.append(fingerprint(text[begin:stop]))
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def _cap_quoted(text: str, *, secret: bool) -> str:
    """Each quoted run: capped, or a fingerprint when it is a found value of a secret field."""

    def one(m: re.Match[str]) -> str:
        run = m.group(0)
        if secret and text[max(0, m.start() - 6) : m.start()] == "found ":
            return fingerprint(run[1:-1])
        body = run[1:-1]
        if len(body) <= MAX_SHOWN:
            return run
        shown = body[:MAX_SHOWN]
        if shown.endswith("\\") and not shown.endswith("\\\\"):
            shown = shown[:-1]  # never leave an escape open
        size = len(body.encode("utf-8", "surrogatepass"))
        return f"{run[0]}{shown}{run[0]}…({size} bytes)"

    if "'" not in text and '"' not in text:
        return text
    return _QUOTED.sub(one, text)


def redact_text(
    text: str, *, secret: bool = False, limit: int = MAX_TEXT, quoted: bool = True
) -> str:
    """Text safe to echo: secret-shaped runs fingerprinted, quoted values capped, length capped.

    `secret=True` says the text is about a secret-named field: a value it shows after "found"
    is fingerprinted whatever it looks like. `quoted=False` leaves quoted runs uncapped (log
    lines and tracebacks quote long file paths).
    """
    if not text:
        return text
    out = _mask_secrets(text)
    if quoted:
        out = _cap_quoted(out, secret=secret)
    if secret and "found " in out:
        out = _FOUND_NUMBER.sub(
            lambda m: m.group(0)[: -len(m.group(1))] + fingerprint(m.group(1)), out
        )
    if len(out) > limit:
        out = _cap_total(out, limit)
    return out


def _cap_total(text: str, limit: int) -> str:
    """At most `limit` characters, the size suffix included (so capping again changes nothing);
    masked again, since a cut can leave a run that completes a secret's shape."""
    suffix = f"…({len(text.encode('utf-8', 'surrogatepass'))} bytes)"
    return _mask_secrets(text[: max(0, limit - len(suffix) - 32)]) + suffix


def is_secret_path(path: str) -> bool:
    """Does a field path (`db.password`, `env[0].value`, `a["x y"].token`) end in a secret key?"""
    last = re.split(r"[.\[\]\"]+", path.rstrip(']"'))[-1] if path else ""
    return bool(last) and is_secret_key(last)
