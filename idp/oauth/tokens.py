"""JWT access tokens (RFC 9068): issued at the token endpoint, checked at UserInfo."""

from __future__ import annotations

from datetime import timedelta

from authlib.oauth2.rfc6750 import BearerTokenValidator
from sqlalchemy import select, update

from idp.clock import utcnow
from idp.db import get_session
from idp.models import AuthorizationCode, Client, IssuedToken, Member
from idp.runtime import runtime
from idp.security.jose import InvalidJWT, sign_jwt, verify_jwt
from idp.security.tokens import random_token
from idp.services import keys as key_service
from idp.services import session_end
from idp.settings import Settings

ACCESS_TOKEN_TYPE = "at+jwt"
ACCESS_TOKEN_ALG = "RS256"


def issue_access_token(
    settings: Settings, client: Client, member: Member, scope: str, code: AuthorizationCode | None
) -> dict:
    """Sign an RFC 9068 access token and record its jti (for revocation and UserInfo)."""
    db = get_session()
    now = utcnow()
    jti = random_token(18)
    ttl_seconds = settings.tokens.access_token_ttl_seconds
    claims = {
        "iss": settings.server.issuer,
        "sub": member.subject,
        "aud": settings.tokens.access_token_audience,
        "client_id": client.client_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl_seconds,
        "jti": jti,
        "scope": scope,
    }
    if code is not None:
        context = code.authentication
        claims["auth_time"] = int(context.auth_time.timestamp())
        if context.acr:
            claims["acr"] = context.acr
        if context.amr:
            claims["amr"] = list(context.amr)
    private_jwk = key_service.signing_key(db, runtime().secrets.signing_keys, ACCESS_TOKEN_ALG)
    access_token = sign_jwt(private_jwk, claims, typ=ACCESS_TOKEN_TYPE)
    db.add(
        IssuedToken(
            jti=jti,
            client_id=client.client_id,
            member_id=member.id,
            authorization_code_id=code.id if code is not None else None,
            scope=scope,
            session_sid=code.session_sid if code is not None else None,
            claims_json=code.claims_json if code is not None else None,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    if code is not None:
        # Back-channel logout tells this client when the session ends.
        session_end.record_participant(db, code.session_sid, client.client_id, member.id)
    db.flush()
    return {"token_type": "Bearer", "access_token": access_token, "expires_in": ttl_seconds, "scope": scope}


def revoke_tokens_from_code(code_id: int) -> int:
    """RFC 6749 §4.1.2: when a code is used twice, revoke what its first use issued."""
    db = get_session()
    result = db.execute(
        update(IssuedToken)
        .where(IssuedToken.authorization_code_id == code_id, IssuedToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount


class ValidatedAccessToken:
    """What Authlib's resource protector needs from a token (TokenMixin)."""

    def __init__(self, record: IssuedToken, client: Client) -> None:
        self.record = record
        self.client = client
        self.scope = record.scope

    def check_client(self, client) -> bool:
        return client.client_id == self.record.client_id

    def get_scope(self) -> str:
        return self.record.scope

    def get_expires_in(self) -> int:
        return int((self.record.expires_at - self.record.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.record.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.record.revoked_at is not None

    def get_user(self) -> Member:
        return self.record.member

    def get_client(self) -> Client:
        return self.client


class AccessTokenValidator(BearerTokenValidator):
    """A Bearer token is good when we signed it, it is an access token for our issuer, and its
    jti is on record and not revoked."""

    def __init__(self, issuer: str, retired_publish_seconds: int) -> None:
        super().__init__()
        self.issuer = issuer
        self.retired_publish_seconds = retired_publish_seconds

    def authenticate_token(self, token_string: str) -> ValidatedAccessToken | None:
        db = get_session()
        try:
            header, claims = verify_jwt(token_string, key_service.published_jwks(db, self.retired_publish_seconds))
        except InvalidJWT:
            return None
        if str(header.get("typ", "")).lower() not in {ACCESS_TOKEN_TYPE, f"application/{ACCESS_TOKEN_TYPE}"}:
            return None
        if claims.get("iss") != self.issuer or not isinstance(claims.get("jti"), str):
            return None
        record = db.scalar(select(IssuedToken).where(IssuedToken.jti == claims["jti"]))
        if record is None:
            return None
        client = db.scalar(select(Client).where(Client.client_id == record.client_id))
        if client is None:
            return None
        return ValidatedAccessToken(record, client)
