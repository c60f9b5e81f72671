"""Tokens as the token endpoint issues them and the other endpoints check them: JWT access
tokens (RFC 9068), refresh tokens (idp.services.refresh_tokens), the ID token of a refresh
(OpenID Connect Core §12.2), and reading an access token back (UserInfo, introspection,
revocation)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenValidator
from sqlalchemy import insert, select, update

from idp.clock import utcnow
from idp.db import get_session, run_table_statement
from idp.models import AuthorizationCode, Client, IssuedToken, Member
from idp.models.authentication import AuthenticationContext
from idp.runtime import runtime
from idp.security.jose import InvalidJWT, VerifiedTokens, sign_jwt_with
from idp.security.tokens import random_token
from idp.services import keys as key_service
from idp.services import refresh_tokens, session_end
from idp.services.clients import find_client
from idp.settings import Settings

ACCESS_TOKEN_TYPE = "at+jwt"
OFFLINE_ACCESS = "offline_access"


def signer_for(alg: str) -> key_service.Signer:
    current = runtime()
    return key_service.signer(get_session(), current.secrets.signing_keys, alg, current.settings.keys.cache_seconds)


def access_token_ttl(settings: Settings, client: Client) -> int:
    return client.access_token_ttl_seconds or settings.tokens.access_token_ttl_seconds


# Every token issued is recorded: the table's statement, written at once (see
# idp.db.run_table_statement); the caller commits.
_RECORD_ISSUED = insert(IssuedToken.__table__)


def issue_access_token(
    settings: Settings,
    client: Client,
    member: Member | None,
    scope: str,
    code: AuthorizationCode | None = None,
    *,
    authentication: AuthenticationContext | None = None,
    audience: str | None = None,
    family_id: str | None = None,
) -> dict:
    """Sign an RFC 9068 access token and record its jti (for revocation, UserInfo and
    introspection). ``member`` None: a client_credentials token, whose ``sub`` is the client."""
    db = get_session()
    now = utcnow()
    jti = random_token(18)
    ttl_seconds = access_token_ttl(settings, client)
    if authentication is None and code is not None:
        authentication = code.authentication
    claims = {
        "iss": settings.server.issuer,
        "sub": member.subject if member is not None else client.client_id,
        "aud": audience or settings.tokens.access_token_audience,
        "client_id": client.client_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ttl_seconds,
        "jti": jti,
        "scope": scope,
    }
    if authentication is not None:
        claims["auth_time"] = int(authentication.auth_time.timestamp())
        if authentication.acr:
            claims["acr"] = authentication.acr
        if authentication.amr:
            claims["amr"] = list(authentication.amr)
    chosen = signer_for(settings.tokens.access_token_signing_alg)
    access_token = sign_jwt_with(chosen.key, chosen.kid, chosen.alg, claims, typ=ACCESS_TOKEN_TYPE)
    run_table_statement(
        db,
        _RECORD_ISSUED,
        {
            "jti": jti,
            "client_id": client.client_id,
            "member_id": member.id if member is not None else None,
            "authorization_code_id": code.id if code is not None else None,
            "scope": scope,
            "session_sid": authentication.sid if authentication is not None else None,
            "family_id": family_id,
            "audience": claims["aud"],
            "claims_json": code.claims_json if code is not None else None,
            "issued_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        },
    )
    if member is not None and authentication is not None:
        # Back-channel logout tells this client when the session ends (refreshed tokens too).
        session_end.record_participant(db, authentication.sid, client.client_id, member.id)
    return {"token_type": "Bearer", "access_token": access_token, "expires_in": ttl_seconds, "scope": scope}


def refresh_lifetimes(settings: Settings) -> refresh_tokens.Lifetimes:
    return refresh_tokens.Lifetimes(
        idle_seconds=settings.tokens.refresh_token_idle_seconds,
        absolute_seconds=settings.tokens.refresh_token_absolute_seconds,
    )


def may_get_refresh_token(client: Client, scope: str) -> bool:
    """A client allowed the refresh_token grant gets one when the member granted
    offline_access, or when its registration says always."""
    if not client.check_grant_type("refresh_token"):
        return False
    return client.always_issue_refresh_token or OFFLINE_ACCESS in (scope_to_list(scope) or [])


def tokens_for_code(settings: Settings, client: Client, member: Member, scope: str, code: AuthorizationCode) -> dict:
    """What a code exchange issues: an access token and, when allowed, the first refresh
    token of a new family (both bound to the code's sign-in session)."""
    refresh = None
    family_id = None
    if may_get_refresh_token(client, scope):
        refresh, family_id = refresh_tokens.issue(
            get_session(),
            client_id=client.client_id,
            member_id=member.id,
            scope=code.scope,
            audience=code.resource,
            authentication=code.authentication,
            lifetimes=refresh_lifetimes(settings),
        )
    token = issue_access_token(settings, client, member, scope, code, audience=code.resource, family_id=family_id)
    if refresh is not None:
        token["refresh_token"] = refresh
    return token


def half_hash(value: str) -> str:
    """at_hash for the SHA-256 algorithms (RS256, ES256)."""
    full = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(full[:16]).rstrip(b"=").decode()


def refreshed_id_token(
    settings: Settings, client: Client, member: Member, authentication: AuthenticationContext, access_token: str
) -> str:
    """OpenID Connect Core §12.2: a new ID token for the same sign-in: same iss, sub, aud,
    auth_time, acr, amr and sid; a new iat; no nonce."""
    now = int(utcnow().timestamp())
    claims = {
        "iss": settings.server.issuer,
        "sub": member.subject,
        "aud": client.client_id,
        "iat": now,
        "exp": now + settings.tokens.id_token_ttl_seconds,
        "auth_time": int(authentication.auth_time.timestamp()),
        "at_hash": half_hash(access_token),
    }
    if authentication.acr:
        claims["acr"] = authentication.acr
    if authentication.amr:
        claims["amr"] = list(authentication.amr)
    if authentication.sid:
        claims["sid"] = authentication.sid
    chosen = signer_for(client.id_token_signed_response_alg or settings.tokens.default_id_token_signing_alg)
    return sign_jwt_with(chosen.key, chosen.kid, chosen.alg, claims, typ="JWT")


def revoke_tokens_from_code(code_id: int) -> int:
    """RFC 6749 §4.1.2: when a code is used twice, revoke what its first use issued (its
    access token and the refresh-token family started with it)."""
    db = get_session()
    families = set(
        db.scalars(
            select(IssuedToken.family_id).where(
                IssuedToken.authorization_code_id == code_id, IssuedToken.family_id.is_not(None)
            )
        )
    )
    for family_id in families:
        refresh_tokens.revoke_family(db, family_id)
    result = db.execute(
        update(IssuedToken)
        .where(IssuedToken.authorization_code_id == code_id, IssuedToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount


@dataclass(frozen=True)
class CheckedAccessToken:
    """An access token whose signature, type, issuer and expiry were checked, with its record."""

    claims: dict
    record: IssuedToken


def check_access_token(token_string: str) -> CheckedAccessToken | None:
    """The access token if we signed it (with any published key), it is an RFC 9068 access
    token of our issuer, not expired, and its jti is on record; None otherwise. Revocation is
    the caller's to judge (``record.revoked_at``)."""
    current = runtime()
    db = get_session()
    published = key_service.published(
        db, current.settings.keys.retired_key_publish_seconds, current.settings.keys.cache_seconds
    )
    claims = access_token_claims(token_string, published.verified, current.settings.server.issuer)
    if claims is None:
        return None
    record = db.scalar(select(IssuedToken).where(IssuedToken.jti == claims["jti"]))
    if record is None:
        return None
    return CheckedAccessToken(claims=claims, record=record)


def access_token_claims(token_string: str, keys: VerifiedTokens, issuer: str) -> dict | None:
    """The claims of ``token_string`` if it is a JWT access token (RFC 9068) signed with a key
    of ``keys``, of ``issuer``, with a jti and not expired; None otherwise. Whether its jti is
    on record, and not revoked, is for the caller to look up."""
    if not token_string or len(token_string) > 8192:
        return None
    try:
        header, claims = keys.verify(token_string)
    except InvalidJWT:
        return None
    if str(header.get("typ", "")).lower() not in {ACCESS_TOKEN_TYPE, f"application/{ACCESS_TOKEN_TYPE}"}:
        return None
    if claims.get("iss") != issuer or not isinstance(claims.get("jti"), str):
        return None
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= int(utcnow().timestamp()):
        return None
    return claims


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

    def get_user(self) -> Member | None:
        return self.record.member

    def get_client(self) -> Client:
        return self.client


class AccessTokenValidator(BearerTokenValidator):
    """A Bearer token for UserInfo: one we signed, an access token for our issuer, its jti on
    record, issued for a member (not a client_credentials token)."""

    def __init__(self, issuer: str, retired_publish_seconds: int) -> None:
        super().__init__()
        self.issuer = issuer
        self.retired_publish_seconds = retired_publish_seconds

    def authenticate_token(self, token_string: str) -> ValidatedAccessToken | None:
        checked = check_access_token(token_string)
        if checked is None or checked.record.member_id is None:
            return None
        client = find_client(get_session(), checked.record.client_id)
        if client is None:
            return None
        return ValidatedAccessToken(checked.record, client)
