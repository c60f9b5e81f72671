"""Logout at the portal, both ways (OpenID Connect RP-Initiated and Back-Channel Logout 1.0).

* Signing out here ends the portal's session **and** sends the member to idp's
  ``end_session_endpoint`` with the ID token as ``id_token_hint``, so the idp
  session ends too: the next "Sign in" asks for the password again (on a
  shared PC, the next person does not get the account).
* idp POSTs a signed logout token to ``/backchannel-logout`` whenever the
  member's idp session ends elsewhere (signed out at idp, "sign out
  everywhere", a password reset, an operator lock). ``LogoutTokenVerifier``
  checks it (§2.6); ``EndedSessions`` remembers the ended ``sid`` so every
  portal session that came from it is treated as signed out on its next request.

``EndedSessions`` lives in this process's memory: a portal run as several
processes needs a shared store (a database table, Redis) in its place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPES = frozenset({"logout+jwt", "application/logout+jwt"})
ALLOWED_ALGORITHMS = ["RS256", "ES256"]


class InvalidLogoutToken(Exception):
    """The logout token must be refused (answer 400, §2.8)."""


class LogoutTokenVerifier:
    """Checks logout tokens from one issuer for one client (Back-Channel Logout 1.0 §2.6).

    Keys come from ``jwks_uri`` (fetched by ``fetch``), cached, and fetched
    again when a token names a key id not in the cache (idp rotated its keys).
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        jwks_uri: str,
        fetch: Callable[[str], Mapping[str, Any]],
        leeway: int = 30,
        max_age: int = 600,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.jwks_uri = jwks_uri
        self._fetch = fetch
        self.leeway = leeway
        self.max_age = max_age
        self._keys: KeySet | None = None
        self._seen_jti: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> dict[str, Any]:
        decoded = self._decode(token)
        if str(decoded.header.get("typ", "")).lower() not in LOGOUT_TOKEN_TYPES:
            raise InvalidLogoutToken("not a logout token (typ)")
        claims = dict(decoded.claims)
        now = time.time()
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if claims.get("iss") != self.issuer:
            raise InvalidLogoutToken("wrong issuer")
        if self.client_id not in audiences:
            raise InvalidLogoutToken("not meant for this client")
        iat = claims.get("iat")
        if not isinstance(iat, int) or iat > now + self.leeway or iat < now - self.max_age:
            raise InvalidLogoutToken("iat missing or out of range")
        exp = claims.get("exp")
        if isinstance(exp, int) and exp < now - self.leeway:
            raise InvalidLogoutToken("expired")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
            raise InvalidLogoutToken("no back-channel logout event")
        if "nonce" in claims:
            raise InvalidLogoutToken("a logout token never has a nonce")
        if not isinstance(claims.get("sid"), str) and not isinstance(claims.get("sub"), str):
            raise InvalidLogoutToken("neither sid nor sub")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidLogoutToken("no jti")
        with self._lock:
            self._seen_jti = {seen: at for seen, at in self._seen_jti.items() if at > now - self.max_age}
            if jti in self._seen_jti:
                raise InvalidLogoutToken("replayed")
            self._seen_jti[jti] = now
        return claims

    def _decode(self, token: str):
        with self._lock:
            if self._keys is None:
                self._keys = self._load_keys()
            keys = self._keys
        try:
            return jwt.decode(token, keys, algorithms=ALLOWED_ALGORITHMS)
        except JoseError:
            # Maybe a key idp added since: fetch once more, then give up.
            with self._lock:
                self._keys = self._load_keys()
                keys = self._keys
            try:
                return jwt.decode(token, keys, algorithms=ALLOWED_ALGORITHMS)
            except (JoseError, ValueError, TypeError) as error:
                raise InvalidLogoutToken(f"signature: {error}") from None
        except (ValueError, TypeError) as error:
            raise InvalidLogoutToken(f"malformed: {error}") from None

    def _load_keys(self) -> KeySet:
        try:
            return KeySet.import_key_set(dict(self._fetch(self.jwks_uri)))
        except Exception as error:  # network, HTTP, JSON, JWK
            raise InvalidLogoutToken(f"keys unavailable: {error}") from error


class EndedSessions:
    """Which idp sessions (``sid``) and members (``sub``, for tokens without sid) were
    signed out, and when; forgotten after ``keep_seconds`` (longer than any portal session)."""

    def __init__(self, keep_seconds: float = 24 * 3600) -> None:
        self._keep = keep_seconds
        self._sids: dict[str, float] = {}
        self._subjects: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, sid: str | None, sub: str | None) -> None:
        now = time.time()
        with self._lock:
            self._forget_old(now)
            if sid:
                self._sids[sid] = now
            elif sub:
                self._subjects[sub] = now

    def has_ended(self, sid: str | None, sub: str | None, signed_in_at: float) -> bool:
        with self._lock:
            if sid and sid in self._sids:
                return True
            ended_at = self._subjects.get(sub or "")
            return ended_at is not None and ended_at >= signed_in_at

    def _forget_old(self, now: float) -> None:
        cutoff = now - self._keep
        self._sids = {sid: at for sid, at in self._sids.items() if at > cutoff}
        self._subjects = {sub: at for sub, at in self._subjects.items() if at > cutoff}
