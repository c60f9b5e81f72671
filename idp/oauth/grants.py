"""The authorization code grant with OpenID Connect and PKCE, as idp runs it.

Differences from Authlib's defaults, each deliberate:
- codes are stored as digests with ``issued_at``; expiry is ``issued_at + ttl``;
- a code is consumed atomically when it is looked up, and a second use revokes the tokens
  the first use issued (RFC 6749 §4.1.2, RFC 9700 §4.2.4);
- ``redirect_uri`` is required at the authorization endpoint (no default fallback);
- PKCE allows S256 only, is required for public clients (and, by setting, for all);
- ``auth_time``, ``acr``, ``amr`` and ``sid`` come from the member's real sign-in.
"""

from __future__ import annotations

import json
from datetime import timedelta

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from sqlalchemy import select, update

from idp.clock import utcnow
from idp.db import get_session
from idp.models import AuthorizationCode, Client, Member
from idp.models.authentication import AuthenticationContext
from idp.oauth.claims import claims_for_scope
from idp.oauth.tokens import issue_access_token, revoke_tokens_from_code
from idp.runtime import runtime, settings
from idp.security.jose import load_private_key
from idp.security.tokens import digest
from idp.services import keys as key_service


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    # 256 bits of randomness in URL-safe characters.
    AUTHORIZATION_CODE_LENGTH = 43

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: Client) -> str:
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            # Never fall back to a registered URI: OpenID Connect requires the parameter and
            # an exact match is the only safe comparison.
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
        return redirect_uri

    def save_authorization_code(self, code: str, request: OAuth2Request) -> AuthorizationCode:
        authentication: AuthenticationContext = request.authentication
        now = utcnow()
        item = AuthorizationCode(
            code_digest=digest(code),
            client_id=request.client.client_id,
            member_id=request.user.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=request.payload.data.get("nonce"),
            code_challenge=request.payload.data.get("code_challenge"),
            code_challenge_method=request.payload.data.get("code_challenge_method"),
            auth_time=authentication.auth_time,
            acr=authentication.acr,
            amr_json=json.dumps(list(authentication.amr)),
            session_sid=authentication.sid,
            issued_at=now,
            expires_at=now + timedelta(seconds=settings().tokens.authorization_code_ttl_seconds),
        )
        db = get_session()
        db.add(item)
        db.commit()
        return item

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """Find and consume the code in one atomic step; None (invalid_grant) when unknown,
        issued to another client, expired, or already used (which revokes its tokens)."""
        db = get_session()
        item = db.scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.code_digest == digest(code),
                AuthorizationCode.client_id == client.client_id,
            )
        )
        if item is None:
            return None
        now = utcnow()
        consumed = db.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.id == item.id, AuthorizationCode.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        if consumed.rowcount != 1:
            revoke_tokens_from_code(item.id)
            db.commit()
            return None
        db.commit()
        if item.expires_at <= now:
            return None
        return item

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Already consumed in query_authorization_code; the row stays (marked) so that a
        # second use is recognised, and is purged after it expires.
        get_session().commit()

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Member:
        return authorization_code.member

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        return issue_access_token(settings(), self.request.client, user, scope, self.request.authorization_code)


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only (RFC 9700 §2.1.1: `plain` offers no protection if the request leaks).

    Required for public clients at the authorization endpoint (not only at the token
    endpoint, so a client is told at once), and for confidential clients when configured.
    """

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": CodeChallenge.CODE_CHALLENGE_METHODS["S256"]}

    def validate_code_challenge(self, grant, redirect_uri):
        request = grant.request
        data = request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        if not challenge and self._required_for(request.client):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with method S256.")
        if challenge and method != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': only S256 is allowed.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        request = grant.request
        if self._required_for(request.client) and not request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)

    @staticmethod
    def _required_for(client: Client) -> bool:
        return client.is_public or settings().tokens.require_pkce_for_confidential_clients


# Nonces are random values of a few dozen characters (OpenID Connect Core §15.5.2 suggests a
# hash of a cookie); a generous bound keeps the (client_id, nonce) index entry small.
MAX_NONCE_LENGTH = 512


class IdpOpenIDCode(OpenIDCode):
    """ID tokens signed with the database keys, with the real sign-in context."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        if "\x00" in nonce:
            # PostgreSQL text cannot hold NUL: such a nonce could be neither looked up nor
            # stored with the code, so the request is refused (invalid_request, to the client).
            raise InvalidRequestError("Invalid 'nonce' in request.")
        if len(nonce) > MAX_NONCE_LENGTH:
            # Stored with the code and indexed with the client id: a B-tree entry has a size
            # limit (about 2.7 kB on PostgreSQL), and no client needs more than a few dozen.
            raise InvalidRequestError(f"Invalid 'nonce' in request: longer than {MAX_NONCE_LENGTH} characters.")
        db = get_session()
        found = db.scalar(
            select(AuthorizationCode.id).where(
                AuthorizationCode.client_id == request.payload.client_id, AuthorizationCode.nonce == nonce
            )
        )
        return found is not None

    def get_client_algorithm(self, client: Client) -> str:
        return client.id_token_signed_response_alg or settings().tokens.default_id_token_signing_alg

    def _private_jwk(self, client: Client) -> dict:
        return key_service.signing_key(get_session(), runtime().secrets.signing_keys, self.get_client_algorithm(client))

    def resolve_client_private_key(self, client: Client):
        return load_private_key(self._private_jwk(client))

    def get_encode_header(self, client: Client) -> dict:
        return {"alg": self.get_client_algorithm(client), "kid": self._private_jwk(client)["kid"], "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict:
        current = settings()
        now = int(utcnow().timestamp())
        return {
            "iss": current.server.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + current.tokens.id_token_ttl_seconds,
        }

    def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.session_sid:
            claims["sid"] = authorization_code.session_sid
        return claims

    def generate_user_info(self, user: Member, scope: str) -> dict:
        # Only `sub` in the ID token: with an access token issued, the other claims are
        # served by UserInfo (OpenID Connect Core §5.4), which keeps tokens small and private.
        return {"sub": user.subject}


def userinfo_claims(user: Member, scope: str) -> dict:
    return claims_for_scope(user, scope)
