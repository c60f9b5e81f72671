"""RFC 7662 introspection, for registered resource servers: what an access token says, if it
is one of ours, live, and meant for the asking resource server's audience.

``active: false`` — and nothing else — for anything else: malformed, expired, revoked, not
signed by our keys (a well-formed JWT from another issuer or key included), another
audience's token, and refresh tokens (a resource server has no business holding one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from idp.db import StandingReads
from idp.models import IssuedToken, ResourceServer
from idp.oauth.tokens import access_token_claims, check_access_token
from idp.security.jose import VerifiedTokens
from idp.services import resource_servers

INACTIVE = {"active": False}
# Claims a resource server needs (RFC 7662 §2.2, RFC 9068 §2.2).
PASSED_CLAIMS = ("iss", "sub", "client_id", "scope", "aud", "exp", "iat", "jti", "acr", "amr", "auth_time")

# Built once, for the fast path (web/protocol/introspection.py): the asking resource server's
# credentials and the token's record in one round trip. The outer join keeps the resource
# server's row when the token is not on record (its columns are then NULL).
_CREDENTIALS_AND_TOKEN = (
    select(
        ResourceServer.audience,
        ResourceServer.secret_hash,
        IssuedToken.id.label("token_on_record"),
        IssuedToken.revoked_at,
    )
    .select_from(ResourceServer)
    .outerjoin(IssuedToken, IssuedToken.jti == bindparam("jti"))
    .where(ResourceServer.introspection_id == bindparam("introspection_id"))
)


def introspect(audience: str, token: str | None) -> dict:
    """The answer for the resource server of ``audience`` (in the request's database session)."""
    if not _looks_like_a_jwt(token):
        return dict(INACTIVE)
    checked = check_access_token(token)
    live = checked is not None and checked.record.revoked_at is None
    return answer(audience, checked.claims if live else None)


def authenticated_introspection(
    reads: StandingReads,
    keys: VerifiedTokens,
    issuer: str,
    introspection_id: str | None,
    secret: str | None,
    token: str | None,
) -> dict | None:
    """The fast path's whole request in one standing read: the answer ``introspect`` gives the
    resource server these credentials belong to, or None when they are wrong (the view then
    answers 401 and counts the failure). The token's signature is checked before the read, for
    its jti; a token that fails it needs only the credentials' row."""
    claims = access_token_claims(token, keys, issuer) if _looks_like_a_jwt(token) else None
    if claims is None:
        audience = resource_servers.authenticated_audience(reads, introspection_id, secret)
        return None if audience is None else dict(INACTIVE)
    found = resource_servers.authenticated_row(
        introspection_id,
        secret,
        lambda: reads.first(_CREDENTIALS_AND_TOKEN, {"introspection_id": introspection_id, "jti": claims["jti"]}),
    )
    if found is None:
        return None
    live = found.token_on_record is not None and found.revoked_at is None
    return answer(found.audience, claims if live else None)


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
