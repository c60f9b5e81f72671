"""Reading an ``id_token_hint`` (OpenID Connect Core §3.1.2.1, RP-Initiated Logout 1.0 §2):
an ID token idp issued earlier, naming the member the relying party believes is signed in.

It must be ours: signed by one of our published keys (retired ones included, while they are
published) with an algorithm we sign with (so never ``alg: none`` or HMAC), naming our
issuer, and an ID token (not an access or logout token). Its expiry does not matter: an RP
sends the last ID token it has, which has usually expired.
"""

from __future__ import annotations

from dataclasses import dataclass

from idp.db import get_session
from idp.runtime import runtime
from idp.security.jose import InvalidJWT, verify_jwt_with
from idp.services import keys as key_service

# Longer than any ID token idp signs; bounds the work a hostile hint can cause.
MAX_HINT_LENGTH = 8192
_NOT_ID_TOKEN_TYPES = {"at+jwt", "application/at+jwt", "logout+jwt", "application/logout+jwt"}


class HintNotOurs(Exception):
    """The hint is not an ID token idp issued (bad signature, algorithm, issuer or form)."""


@dataclass(frozen=True)
class IdTokenHint:
    subject: str
    audiences: tuple[str, ...]
    sid: str | None


def read_id_token_hint(token: str) -> IdTokenHint:
    if not token or len(token) > MAX_HINT_LENGTH:
        raise HintNotOurs("empty or too long")
    current = runtime()
    try:
        published = key_service.published(
            get_session(), current.settings.keys.retired_key_publish_seconds, current.settings.keys.cache_seconds
        )
        header, claims = verify_jwt_with(token, published.key_set)
    except InvalidJWT as error:
        raise HintNotOurs(f"signature: {error}") from None
    if str(header.get("typ", "")).lower() in _NOT_ID_TOKEN_TYPES:
        raise HintNotOurs("not an ID token")
    if claims.get("iss") != current.settings.server.issuer:
        raise HintNotOurs("another issuer")
    subject = claims.get("sub")
    audience = claims.get("aud")
    audiences = (audience,) if isinstance(audience, str) else tuple(a for a in audience or () if isinstance(a, str))
    if not isinstance(subject, str) or not subject or not audiences:
        raise HintNotOurs("no sub or aud")
    sid = claims.get("sid")
    return IdTokenHint(subject=subject, audiences=audiences, sid=sid if isinstance(sid, str) else None)
