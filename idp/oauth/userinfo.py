"""What UserInfo releases for a bearer token, read in one statement: the fast path's half of
UserInfo (``web/protocol/userinfo.py``). Authlib's UserInfo endpoint (``oauth/server.py``)
answers every other case, errors included.

It accepts no token the full path would refuse: the same JWT checks
(``tokens.access_token_claims``), then the token's record, its member and its client in one
row, and the conditions Authlib's resource protector and ``AccessTokenValidator`` apply (on
record, issued for a member, its client registered, not revoked, not expired, ``openid`` in
its scope). The claims come from the same function (``claims.userinfo_claims``).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list
from sqlalchemy import bindparam, select

from idp.clock import utcnow
from idp.db import StandingReads
from idp.models import Client, IssuedToken, Member
from idp.oauth.claims import CLAIMS_SOURCE_COLUMNS, userinfo_claims
from idp.oauth.tokens import access_token_claims
from idp.security.jose import VerifiedTokens

# OpenID Connect Core §5.3: UserInfo answers tokens granted the openid scope.
USERINFO_SCOPE = "openid"

# Built once: the statement's construction is most of what an ORM query costs here, and its
# compiled form is cached by SQLAlchemy on first use.
_TOKEN_MEMBER_AND_CLIENT = (
    select(
        IssuedToken.scope,
        IssuedToken.claims_json,
        IssuedToken.expires_at,
        IssuedToken.revoked_at,
        *(getattr(Member, column) for column in CLAIMS_SOURCE_COLUMNS),
    )
    .join(Member, Member.id == IssuedToken.member_id)
    .join(Client, Client.client_id == IssuedToken.client_id)
    .where(IssuedToken.jti == bindparam("jti"))
)


def released_claims(
    reads: StandingReads, token_string: str, keys: VerifiedTokens, issuer: str
) -> dict[str, Any] | None:
    """The UserInfo claims for ``token_string``, or None when the token does not plainly
    qualify (then the full path decides, and says why)."""
    claims = access_token_claims(token_string, keys, issuer)
    if claims is None:
        return None
    row = reads.first(_TOKEN_MEMBER_AND_CLIENT, {"jti": claims["jti"]})
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    if USERINFO_SCOPE not in (scope_to_list(row.scope) or []):
        return None
    return userinfo_claims(row, row.scope, row.claims_json)
