"""Signed, expiring session cookies that name a token (never hold it), and their CSRF tokens.

The cookie carries the token's name and role, a fingerprint of the token's stored hash (an
HMAC under the session key, so it says nothing about the token) and a random session id. It is
signed and time-stamped with itsdangerous under the session key, so any replica that has the
key accepts it and nothing else forges or extends it. On every request the fingerprint must
still name an entry of the token store with that name and role: removing a token from the
token file (and restarting or rolling the pods) ends all of its sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from webhook.server.auth import Principal, TokenStore

SESSION_COOKIE = "mg_session"
LOGIN_COOKIE = "mg_login"
#: a session lasts this long from login (seconds); then the operator signs in again
SESSION_TTL = 8 * 3600
#: the login form's own anti-CSRF nonce lives this long
LOGIN_TTL = 15 * 60
MAX_COOKIE = 1024


@dataclass(frozen=True, slots=True)
class Session:
    """A verified session: who, and the id its CSRF token is derived from."""

    principal: Principal
    sid: str


def _hmac(key: bytes, label: bytes, value: bytes) -> str:
    mac = hmac.new(key, label + b"\0" + value, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _serializer(key: bytes, salt: str, clock: Callable[[], int]) -> URLSafeTimedSerializer:
    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return clock()

    return URLSafeTimedSerializer(key, salt=salt, signer=Signer)


class Sessions:
    """Issues and checks session cookies, login nonces and CSRF tokens under one key."""

    def __init__(
        self,
        key: bytes,
        tokens: TokenStore | None,
        *,
        ttl: int = SESSION_TTL,
        clock: Callable[[], int] = lambda: int(time.time()),
    ) -> None:
        self._key = key
        self.tokens = tokens
        self.ttl = ttl
        self._session = _serializer(key, "migration-gate.ui.session", clock)
        self._login = _serializer(key, "migration-gate.ui.login", clock)
        self._table: tuple[TokenStore | None, dict[str, Principal]] = (None, {})

    # -- who is signed in --------------------------------------------------------------------
    def fingerprint_of_token(self, token: str) -> str:
        return self._fingerprint(hashlib.sha256(token.encode("utf-8")).digest())

    def _fingerprint(self, digest: bytes) -> str:
        return _hmac(self._key, b"token", digest)[:32]

    def _principals(self) -> dict[str, Principal]:
        """fingerprint -> principal for the current token store (rebuilt when it changes)."""
        store, table = self._table
        if store is not self.tokens:
            table = {}
            for entry in getattr(self.tokens, "_entries", ()):
                table[self._fingerprint(entry.digest)] = entry.principal
            self._table = (self.tokens, table)
        return table

    def issue(self, principal: Principal, token: str) -> str:
        """The cookie value for a principal just authenticated with `token`."""
        data = {
            "n": principal.name,
            "r": principal.role,
            "f": self.fingerprint_of_token(token),
            "s": secrets.token_urlsafe(16),
        }
        return str(self._session.dumps(data))

    def verify(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or None: missing, tampered, expired, or its token revoked."""
        if not cookie or len(cookie) > MAX_COOKIE:
            return None
        try:
            data: Any = self._session.loads(cookie, max_age=self.ttl)
        except (SignatureExpired, BadSignature):
            return None
        if not isinstance(data, dict):
            return None
        fp, name, role, sid = (data.get(k) for k in ("f", "n", "r", "s"))
        if not all(isinstance(v, str) for v in (fp, name, role, sid)):
            return None
        principal = self._principals().get(str(fp))
        if principal is None or principal.name != name or principal.role != role:
            return None
        return Session(principal, str(sid))

    # -- CSRF --------------------------------------------------------------------------------
    def csrf_token(self, session: Session) -> str:
        """The per-session CSRF token every form carries (derived, so no server state)."""
        return _hmac(self._key, b"csrf", session.sid.encode("ascii", "replace"))

    def csrf_ok(self, session: Session, presented: str | bytes | None) -> bool:
        if isinstance(presented, bytes):
            presented = presented.decode("ascii", "replace")
        if not presented:
            return False
        return hmac.compare_digest(self.csrf_token(session), presented)

    # -- the login form's nonce (CSRF before there is a session) -----------------------------
    def login_nonce(self) -> tuple[str, str]:
        """(cookie value, form value) for a fresh login form."""
        nonce = secrets.token_urlsafe(16)
        return str(self._login.dumps(nonce)), _hmac(self._key, b"login", nonce.encode())

    def login_ok(self, cookie: str | None, presented: str | None) -> bool:
        if not cookie or not presented or len(cookie) > MAX_COOKIE:
            return False
        try:
            nonce: Any = self._login.loads(cookie, max_age=LOGIN_TTL)
        except (SignatureExpired, BadSignature):
            return False
        if not isinstance(nonce, str):
            return False
        return hmac.compare_digest(_hmac(self._key, b"login", nonce.encode()), presented)
