"""What looks like a secret: key names that say they hold one, and values shaped like one.

One table for the `no-inline-secrets` check and for redaction (`redact.py`), so whatever the
check flags is also never echoed. Every pattern runs on attacker-controlled text and is linear
in its length: a pattern starts only where a run of its first class begins (a negative
lookbehind on that class, so a run of a million word characters is scanned once, not a
million times), runs are possessive (`*+`, `++`) when what follows cannot be part of them, and
every other quantifier is bounded. `tests/unit/policies/test_secrets_linear.py` proves it with
size-doubling ratios.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

# --- key names ----------------------------------------------------------------------------------

#: a key whose last word is one of these holds a secret ("db_password", "apiToken", "PASS")
_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "apikey",
        "apikeys",
        "credential",
        "credentials",
        "privatekey",
        "secretkey",
        "accesskey",
    }
)
#: ... or whose last two words are one of these ("private_key", "awsSecretAccessKey")
_PAIRS = frozenset(
    {(w, "key") for w in ("api", "private", "access", "secret", "signing", "encryption")}
    | {(w, "key") for w in ("master", "auth", "hmac", "session", "account", "shared")}
    | {(w, "keys") for w in ("api", "private", "access", "secret", "signing")}
    | {("client", "secret"), ("app", "secret"), ("insert", "key"), ("license", "key")}
    | {(w, "tokens") for w in ("api", "auth", "access", "bearer", "refresh", "session")}
    | {(w, "tokens") for w in ("oauth", "bot", "service", "personal", "id")}
)
#: ... or which, written as one word, ends with one of these ("dbpassword", "PGPASSWORD")
_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "clientsecret",
    "credential",
    "credentials",
    "storepass",
    "keypass",
)
#: a last word saying the key holds a reference to the secret named before it
_REF_WORDS = frozenset({"ref", "refs", "reference", "references"})
#: names that carry a secret only as URL query parameters or `NAME=value` settings
_PARAM_NAMES = frozenset({"sig", "signature", "x-amz-signature", "sas", "pw", "sessionid"})
#: ... and the last words that do ("_gitlab_session=", "PHPSESSID" aside)
_PARAM_WORDS = frozenset({"session", "sig", "signature"})
#: word boundaries inside one token: camelCase, ACRONYMWord, letters/digits (zero-width: linear)
_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])")
_NON_WORD = re.compile(r"[^a-z0-9]++")


def key_words(key: str) -> list[str]:
    """'DBPassword' -> ['db', 'password']; 'awsSecretAccessKey' -> ['aws', 'secret', ...]."""
    spaced = _BOUNDARY.sub("_", key)
    return [w for w in _NON_WORD.split(spaced.lower()) if w and not w.isdigit()]


# memo: pure, bounded (4096); measured 2.1 -> 0.04 us a key
@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Does this key name say it holds a secret? 'db_password' yes, 'password_file' no.

    Cached: configs reuse the same few hundred key names, and this runs for every key.
    """
    return _names_a_secret(key_words(key))


def _names_a_secret(words: list[str]) -> bool:
    if not words:
        return False
    if words[-1] in _WORDS or tuple(words[-2:]) in _PAIRS:
        return True
    return "".join(words).endswith(_SUFFIXES)


# memo: pure, bounded (4096); measured 2.2 -> 0.04 us a key
@functools.lru_cache(maxsize=4096)
def is_secret_ref_key(key: str) -> bool:
    """Does this key name hold a reference to a secret? 'password_ref', 'dbPasswordRef',
    'secretKeyRef' yes; 'config_ref', 'href' no. Its value must be a reference, never a literal."""
    words = key_words(key)
    return len(words) > 1 and words[-1] in _REF_WORDS and _names_a_secret(words[:-1])


# memo: pure, bounded (4096); measured 1.9 -> 0.04 us a name
@functools.lru_cache(maxsize=4096)
def is_secret_param(name: str) -> bool:
    """A `NAME=value` / `?name=value` name that carries a secret (adds `sig`, `signature`...)."""
    if name.lower() in _PARAM_NAMES or is_secret_key(name):
        return True
    words = key_words(name)
    return bool(words) and words[-1] in _PARAM_WORDS


# --- values -------------------------------------------------------------------------------------

KEY_BLOCK = "a private key"
_TOKEN_RULES: tuple[tuple[str, str], ...] = (
    (
        KEY_BLOCK,
        r"-[ \t]{0,8}(?i:begin)[ \tA-Za-z0-9_-]{0,64}(?i:private)[ \t]{0,8}(?i:key)",
    ),
    ("a PuTTY private key", r"(?i:putty-user-key-file)-[0-9]{1,3}:"),
    ("an age secret key", r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    (
        "an AWS access key id",
        r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])",
    ),
    ("an AWS Bedrock API key", r"ABSK[A-Za-z0-9+/]{109}|bedrock-api-key-YmVkcm9jay5hbWF6b25h"),
    ("a GitHub token", r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22}"),
    (
        "a GitLab token",
        r"gl(?:pat|dt|ptt|rt|soat|cbt|ft|imt|agent|oas|ffct|wt)-[A-Za-z0-9_-]{20}"
        r"|GR1348941[A-Za-z0-9_-]{20}",
    ),
    ("a Slack token", r"xox[abposre]-[A-Za-z0-9-]{10}|xoxe.xox[bp]-|xapp-[0-9]-[A-Za-z0-9]"),
    ("a Slack webhook", r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20}"),
    ("a Google API key", r"AIza[0-9A-Za-z_-]{35}"),
    ("a Google OAuth secret", r"GOCSPX-[A-Za-z0-9_-]{28}"),
    ("a Stripe key", r"(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10}"),
    ("an OpenAI key", r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20}|sk-[A-Za-z0-9]{20}T3BlbkFJ"),
    ("an Anthropic key", r"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{32}"),
    (
        "a JSON Web Token",
        r"(?<!-)eyJ[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8}|ey[A-Za-z0-9]{17,}+\.ey[A-Za-z0-9/\\_-]{17}",
    ),
    ("an npm token", r"npm_[A-Za-z0-9]{36}"),
    ("a PyPI token", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{20}"),
    ("a SendGrid key", r"SG\.[A-Za-z0-9=_.-]{40}"),
    ("a Twilio key", r"SK[0-9a-fA-F]{32}(?![0-9a-fA-F])"),
    ("a Mailgun key", r"key-[0-9a-f]{32}(?![0-9a-f])"),
    ("a DigitalOcean token", r"do[por]_v1_[a-f0-9]{64}"),
    ("a Vault token", r"hv[sbr]\.[A-Za-z0-9_-]{24}"),
    ("a Shopify token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    ("a Square token", r"EAAA[A-Za-z0-9_-]{60}|sq0(?:atp|csp)-[A-Za-z0-9_-]{22}"),
    ("a Databricks token", r"dapi[a-f0-9]{32}"),
    ("a Doppler token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40}"),
    ("a Hugging Face token", r"hf_[A-Za-z]{34}|api_org_[A-Za-z]{34}"),
    ("a Pulumi token", r"pul-[a-f0-9]{40}"),
    ("a Postman key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("a Linear key", r"lin_api_[A-Za-z0-9]{40}"),
    ("a Grafana token", r"glc_[A-Za-z0-9+/]{32}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
    ("an Atlassian token", r"ATATT3[A-Za-z0-9_=-]{64}"),
    ("an Artifactory key", r"AKCp[A-Za-z0-9]{69}|cmVmd[A-Za-z0-9]{59}"),
    ("an Azure AD client secret", r"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31}"),
    ("a Dynatrace token", r"dt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}"),
    ("a Telegram bot token", r"[0-9]{5,16}:A[A-Za-z0-9_-]{34}"),
    ("an Alibaba key", r"LTAI[A-Za-z0-9]{20}"),
    ("a 1Password key", r"A3-[A-Z0-9]{6}-|ops_eyJ[A-Za-z0-9+/]{64}"),
    (
        "a service token",
        r"(?:rubygems_[a-f0-9]{48}|CLOJARS_[A-Za-z0-9]{60}|FlyV1 fm[12]_|fo1_[A-Za-z0-9_-]{43}"
        r"|HRKU-AA[0-9A-Za-z_-]{58}|pnu_[A-Za-z0-9]{36}|xkeysib-[a-f0-9]{64}|pscale_(?:tkn|pw|oauth)_"
        r"|rdme_[a-z0-9]{70}|tfp_[A-Za-z0-9_.=-]{59}|duffel_(?:test|live)_|shippo_(?:live|test)_"
        r"|EZ[AT]K[A-Za-z0-9]{54}|FLWSEC[KK]_TEST-|fio-u-[A-Za-z0-9_=-]{64}|NRAK-[A-Z0-9]{27}"
        r"|ntn_[0-9]{11}[A-Za-z0-9]{32}|sgp_[A-Fa-f0-9]{16}|sgp_local_|pplx-[A-Za-z0-9]{48}|sntry[su]_"
        r"|dop_v1_|dckr_pat_[A-Za-z0-9_-]{27}|ico-[A-Za-z0-9]{32}|pat\.[A-Za-z0-9_-]{22}\."
        r"|p8e-[A-Za-z0-9]{32}|v1\.0-[a-f0-9]{24}-[a-f0-9]{146}|4b1d[A-Za-z0-9]{38}"
        r"|s-s4t2(?:ud|af)-[a-f0-9]{64}|sk_[a-f0-9]{48}|dapi[a-f0-9]{32}|glptt-[0-9a-f]{40}"
        r"|PMAK-|SK[0-9a-f]{32}|lin_oauth_[a-f0-9]{64}|ghr_|sm_(?:pat|aat|sat)_[a-zA-Z0-9]{16})",
    ),
    (
        "a service token",
        r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}|(?:sc|ext|scauth|authress)_[A-Za-z0-9]{5,30}\.[A-Za-z0-9]{4,6}\.acc[_-]"
        r"|EAA[MC][A-Za-z0-9]{20}|[0-9]{15,16}(?:\||%)[0-9A-Za-z_-]{27}|eyJrIjoi[A-Za-z0-9]{30}"
        r"|sat\.[A-Za-z0-9_-]{22}\.|[A-Za-z0-9]{14}\.atlasv1\.|[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk"
        r"|API-[A-Z0-9]{26}|sha256~[A-Za-z0-9_-]{43}|tk-us-[A-Za-z0-9_-]{20}",
    ),
    (
        "a webhook URL with its secret",
        r"[A-Za-z0-9-]{1,63}\.webhook\.office\.com/webhookb2/|outlook\.office\.com/webhook/",
    ),
    ("a clear-text password", r"(?i:cleartextpassword)[\"']?[ \t]{1,8}(?i:value)=[\"'][^\"'\s]"),
    (
        "a curl credential",
        r"curl[ \t][^\n]{0,256}?(?:-u|--user)[= \t]{1,4}[\"']?[^\"'\s:]{1,64}:[^\"'\s]",
    ),
    ("an HTTP credential", r"(?i:bearer|basic)[ \t]{1,8}[A-Za-z0-9._~+/-]{16}"),
)


# memo: one entry; compiling the rules one by one costs ~5 ms, paid on the first hit, not at import
@functools.cache
def _rules() -> tuple[re.Pattern[str], ...]:
    """Each rule on its own, to name a `_TOKENS` hit (hits are rare; a clean config never asks)."""
    return tuple(re.compile(rx) for _, rx in _TOKEN_RULES)


#: a key block anywhere; every other token only where a run of [A-Za-z0-9_] starts. The
#: lookahead, then the lookbehind, make every other position one cheap test; no groups inside
#: the alternation, so the engine's first-literal test skips the alternatives that cannot start
_TOKENS = re.compile(
    rf"{_TOKEN_RULES[0][1]}|(?=[A-Za-z0-9])(?<![A-Za-z0-9_])(?:"
    + "|".join(rf"(?:{rx})" for _, rx in _TOKEN_RULES[1:])
    + ")"
)
#: `scheme://user:password@`: from each `://`, one possessive scan to the next '/' or space
_URL_PASSWORD = re.compile(r"://[^/\s:@]*+:([^/\s@]++)@")
#: `name=value` / `name: value` inside one string: URL query parameters, JDBC and ADO.NET
#: connection strings, `NAME=value` environment entries, `--password=x` flags, embedded files
_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.-])-{0,2}+([A-Za-z_][A-Za-z0-9_.-]*+)[\"']?[ \t]{0,8}(?:=|:(?!//))[ \t]{0,8}"
    r"[\"']?([^\s&;,'\"<>(){}\[\]?=]*+)"
)


@dataclass(frozen=True)
class Hit:
    """Where a secret-shaped run is in a text, and what it looks like ('an AWS access key id')."""

    start: int
    end: int
    what: str


def find_secrets(text: str, *, is_reference: Callable[[str], bool] | None = None) -> Iterator[Hit]:
    """Every secret-shaped run in text, in order of the detector families; linear in len(text).

    `is_reference`, when given, is a callable that exempts a `name=value` value (a reference).
    """
    for m in _windowed(_TOKENS, text):
        yield Hit(m.start(), m.end(), _what(text, m.start()))
    if "://" in text:
        for m in _windowed(_URL_PASSWORD, text):
            yield Hit(m.start(1), m.end(1), "a URL with an embedded password")
    if "=" in text or ":" in text:
        for m in _windowed(_PAIR, text):
            value = m.group(2)
            if not is_secret_param(m.group(1)) or not any(c.isalnum() for c in value):
                continue
            if is_reference is not None and is_reference(value):
                continue
            yield Hit(m.start(2), m.end(2), f"a {m.group(1)} setting with a literal value")


#: a scan hands the GIL back at least this often (characters per regex call): `re` holds it for
#: a whole call, and one call over a 1 MiB value stalled every listener for ~300 ms
SCAN_WINDOW: Final = 64 * 1024
#: a match starting in a window may run this far past it: longer than any rule's match
#: needs (tokens are < 300 characters), so windowing finds what one pass would
SCAN_OVERLAP: Final = 4 * 1024


def _windowed(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """`pattern.finditer(text)` in calls of at most SCAN_WINDOW + SCAN_OVERLAP characters.

    Each window only yields matches that start inside it, and the next window starts after
    the last match, so the matches are those of a single pass (for matches shorter than the
    overlap). Lookbehinds still see the characters before a window (`pos` is not a start).
    """
    n = len(text)
    if n <= SCAN_WINDOW + SCAN_OVERLAP:
        yield from pattern.finditer(text)
        return
    pos = 0
    while pos < n:
        limit = min(n, pos + SCAN_WINDOW)
        nxt = limit
        for m in pattern.finditer(text, pos, min(n, limit + SCAN_OVERLAP)):
            if m.start() >= limit:
                break
            yield m
            nxt = max(nxt, m.end())
        pos = nxt


def _what(text: str, pos: int) -> str:
    """Which rule a `_TOKENS` hit is (only run on hits, which are rare)."""
    for (what, _), rule in zip(_TOKEN_RULES, _rules(), strict=True):
        if rule.match(text, pos):
            return what
    return "a secret token"


def first_secret(text: str, *, is_reference: Callable[[str], bool] | None = None) -> Hit | None:
    """The first hit of `find_secrets`, or None."""
    return next(find_secrets(text, is_reference=is_reference), None)
