"""RFC 7662 introspection, for registered resource servers: what an access token says, if it
is one of ours, live, and meant for the asking resource server's audience.

``active: false`` — and nothing else — for anything else: malformed, expired, revoked, not
signed by our keys (a well-formed JWT from another issuer or key included), another
audience's token, and refresh tokens (a resource server has no business holding one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from idp.db import StandingReads
from idp.models import IssuedToken
from idp.oauth.tokens import access_token_claims, check_access_token

INACTIVE = {"active": False}
# Claims a resource server needs (RFC 7662 §2.2, RFC 9068 §2.2).
PASSED_CLAIMS = ("iss", "sub", "client_id", "scope", "aud", "exp", "iat", "jti", "acr", "amr", "auth_time")

# Built once, for the fast path (web/protocol/introspection.py).
_REVOKED_AT = select(IssuedToken.revoked_at).where(IssuedToken.jti == bindparam("jti"))


def introspect(audience: str, token: str | None) -> dict:
    """The answer for the resource server of ``audience`` (in the request's database session)."""
    if not _looks_like_a_jwt(token):
        return dict(INACTIVE)
    checked = check_access_token(token)
    live = checked is not None and checked.record.revoked_at is None
    return answer(audience, checked.claims if live else None)


def introspect_with(reads: StandingReads, key_set, issuer: str, audience: str, token: str | None) -> dict:
    """``introspect`` with the keys given and one standing read (the fast path)."""
    if not _looks_like_a_jwt(token):
        return dict(INACTIVE)
    claims = access_token_claims(token, key_set, issuer)
    if claims is None:
        return dict(INACTIVE)
    record = reads.first(_REVOKED_AT, {"jti": claims["jti"]})
    return answer(audience, claims if record is not None and record.revoked_at is None else None)


def answer(audience: str, live_claims: dict[str, Any] | None) -> dict:
    """Active, with the claims a resource server needs, when the token is live (on record, not
    revoked) and meant for ``audience``; inactive otherwise."""
    if live_claims is None:
        return dict(INACTIVE)
    audiences = live_claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if audience not in audiences:
        return dict(INACTIVE)
    answered = {"active": True, "token_type": "Bearer"}
    answered.update({name: live_claims[name] for name in PASSED_CLAIMS if name in live_claims})
    return answered


def _looks_like_a_jwt(token: str | None) -> bool:
    return bool(token) and token.count(".") == 2
