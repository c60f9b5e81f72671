"""The authorization code grant with OpenID Connect and PKCE, as idp runs it.

Differences from Authlib's defaults, each deliberate:
- codes are stored as digests with ``issued_at``; expiry is ``issued_at + ttl``;
- a code is consumed atomically when it is looked up, and a second use revokes the tokens
  the first use issued (RFC 6749 §4.1.2, RFC 9700 §4.2.4);
- ``redirect_uri`` is required at the authorization endpoint (no default fallback);
- PKCE allows S256 only, is required for public clients (and, by setting, for all);
- ``auth_time``, ``acr``, ``amr`` and ``sid`` come from the member's real sign-in;
- ``offline_access`` is kept only with consent (OpenID Connect Core §11);
- RFC 8707 ``resource`` picks the audience among registered resource servers.

Also here: the refresh_token grant (rotation and reuse detection, idp.services.refresh_tokens)
and the client_credentials grant (a client acting for itself: no refresh token, no ID token).
"""

from __future__ import annotations

import json
from datetime import timedelta

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Request,
    UnauthorizedClientError,
    grants,
    list_to_scope,
    scope_to_list,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from flask import g
from sqlalchemy import bindparam, insert, select, update

from idp.clock import utcnow
from idp.db import get_session, run_table_statement
from idp.models import AuthorizationCode, Client, Member, RefreshToken
from idp.models import client as client_model
from idp.models.authentication import AuthenticationContext
from idp.oauth.claims import parse_claims_request, requested_claims
from idp.oauth.tokens import (
    OFFLINE_ACCESS,
    issue_access_token,
    refresh_lifetimes,
    refreshed_id_token,
    revoke_tokens_from_code,
    signer_for,
    tokens_for_code,
)
from idp.runtime import settings
from idp.security.tokens import digest, random_token
from idp.services import audit, refresh_tokens
from idp.services import resource_servers as resource_server_service

# How clients may authenticate at the token endpoint (one per client, its registration).
TOKEN_ENDPOINT_AUTH_METHODS = list(client_model.TOKEN_ENDPOINT_AUTH_METHODS)
CONFIDENTIAL_ONLY = list(client_model.CONFIDENTIAL_AUTH_METHODS)
# Scopes that mean nothing without a member (client_credentials).
MEMBER_SCOPES = {"openid", "profile", "email", "phone", "membership", OFFLINE_ACCESS}


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown or not allowed."""

    error = "invalid_target"


def requested_audience(request: OAuth2Request, client: Client) -> str | None:
    """The audience the request's ``resource`` parameters select (None: the default)."""
    payload = request.payload
    values = payload.datalist.get("resource", []) if hasattr(payload, "datalist") else []
    if not values and payload.data.get("resource"):
        values = [payload.data["resource"]]
    try:
        return resource_server_service.audience_for(
            get_session(), client, list(values), settings().tokens.access_token_audience
        )
    except resource_server_service.InvalidTarget as problem:
        raise InvalidTargetError(str(problem)) from None


def granted_scope(client: Client, scope: str, prompt: str | None) -> str:
    """offline_access stays only when the member consents to it (OpenID Connect Core §11):
    asked with prompt=consent (so the consent page was shown), or a first-party client, whose
    registration stands for that consent; and only for clients that may refresh."""
    scopes = scope_to_list(scope) or []
    if OFFLINE_ACCESS in scopes:
        consented = client.first_party or "consent" in (prompt or "").split()
        if not consented or not client.check_grant_type("refresh_token"):
            scopes = [item for item in scopes if item != OFFLINE_ACCESS]
    return list_to_scope(scopes)


# Prebuilt (see idp.db): each code exchange runs both.
_CODE_OF_CLIENT = select(AuthorizationCode).where(
    AuthorizationCode.code_digest == bindparam("code_digest"), AuthorizationCode.client_id == bindparam("client_id")
)
# Each authorization request with a nonce asks whether the client was given it before (on the
# index ix_authorization_codes_client_id_nonce).
_NONCE_OF_CLIENT = select(AuthorizationCode.id).where(
    AuthorizationCode.client_id == bindparam("client_id"), AuthorizationCode.nonce == bindparam("nonce")
)
# Conditional, so that of two concurrent exchanges of one code exactly one consumes it. It
# and the code's storing are the table's statements (see idp.db.run_table_statement).
_CODES = AuthorizationCode.__table__
_STORE_CODE = insert(_CODES)
_CONSUME_CODE = (
    update(_CODES)
    .where(_CODES.c.id == bindparam("code_id"), _CODES.c.consumed_at.is_(None))
    .values(consumed_at=bindparam("now"))
)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS

    def generate_authorization_code(self) -> str:
        # 256 bits of randomness in 43 URL-safe characters, from one read of the system's
        # random source: Authlib's draws each character with a read of its own (43 system calls).
        return random_token(32)

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

    @staticmethod
    def validate_no_multiple_request_parameter(request: OAuth2Request) -> None:
        """Only client_id and redirect_uri repeated are refused here (our error page: which
        client or URI would an error go to?). Any other repeated parameter is refused by the
        authorization checks once both are verified, back to the client (RFC 6749 §3.1)."""
        for name in ("client_id", "redirect_uri"):
            if len(request.payload.datalist.get(name, [])) > 1:
                raise InvalidRequestError(f"Repeated parameter: {name}.")

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        authentication: AuthenticationContext = request.authentication
        now = utcnow()
        db = get_session()
        run_table_statement(
            db,
            _STORE_CODE,
            {
                "code_digest": digest(code),
                "client_id": request.client.client_id,
                "member_id": request.user.id,
                "redirect_uri": request.payload.redirect_uri,
                "scope": granted_scope(request.client, request.scope, request.payload.data.get("prompt")),
                "nonce": request.payload.data.get("nonce"),
                "code_challenge": request.payload.data.get("code_challenge"),
                "code_challenge_method": request.payload.data.get("code_challenge_method"),
                "auth_time": authentication.auth_time,
                "acr": authentication.acr,
                "amr_json": json.dumps(list(authentication.amr)),
                "session_sid": authentication.sid,
                "resource": requested_audience(request, request.client),
                "claims_json": _claims_request_json(request.payload.data.get("claims")),
                "issued_at": now,
                "expires_at": now + timedelta(seconds=settings().tokens.authorization_code_ttl_seconds),
            },
        )
        db.commit()

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        """Find and consume the code in one atomic step; None (invalid_grant) when unknown,
        issued to another client, expired, or already used (which revokes its tokens)."""
        db = get_session()
        item = db.scalar(_CODE_OF_CLIENT, {"code_digest": digest(code), "client_id": client.client_id})
        if item is None:
            return None
        now = utcnow()
        consumed = run_table_statement(db, _CONSUME_CODE, {"code_id": item.id, "now": now})
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

    def validate_token_request(self):
        super().validate_token_request()
        # RFC 8707 §2.2: at the token endpoint `resource` may only repeat what was authorized.
        code: AuthorizationCode = self.request.authorization_code
        asked = requested_audience(self.request, self.request.client)
        if asked is not None and asked != (code.resource or settings().tokens.access_token_audience):
            raise InvalidTargetError("The 'resource' differs from the one authorized.")

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None, include_refresh_token=True):
        return tokens_for_code(settings(), self.request.client, user, scope, self.request.authorization_code)


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
        found = get_session().scalar(_NONCE_OF_CLIENT, {"client_id": request.payload.client_id, "nonce": nonce})
        return found is not None

    def get_client_algorithm(self, client: Client) -> str:
        return client.id_token_signed_response_alg or settings().tokens.default_id_token_signing_alg

    def _signer(self, client: Client):
        # The header's kid and the signature must come from one key, even if the key cache
        # refreshes between the two calls: chosen once per request.
        chosen = g.get("id_token_signer")
        if chosen is None or chosen.alg != self.get_client_algorithm(client):
            chosen = signer_for(self.get_client_algorithm(client))
            g.id_token_signer = chosen
        return chosen

    def resolve_client_private_key(self, client: Client):
        return self._signer(client).key

    def get_encode_header(self, client: Client) -> dict:
        return {"alg": self.get_client_algorithm(client), "kid": self._signer(client).kid, "typ": "JWT"}

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
        # The claims request's id_token member (Core §5.5), within the granted scope.
        if authorization_code.claims_json:
            asked = json.loads(authorization_code.claims_json).get("id_token")
            extra = requested_claims(authorization_code.member, authorization_code.scope, asked)
            claims.update({name: value for name, value in extra.items() if name not in claims})
        return claims

    def generate_user_info(self, user: Member, scope: str) -> dict:
        # Only `sub` in the ID token: with an access token issued, the other claims are
        # served by UserInfo (OpenID Connect Core §5.4), which keeps tokens small and private.
        return {"sub": user.subject}


def _claims_request_json(raw: str | None) -> str | None:
    """The claims request as it is kept with the code (already checked at /authorize)."""
    parsed = parse_claims_request(raw)
    return json.dumps(parsed, sort_keys=True) if parsed else None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """RFC 6749 §6 with rotation on every use and reuse detection (RFC 9700 §4.14.2).

    The checks that can fail without burning the token run first (client, expiry, scope,
    resource); then the token is claimed atomically; only the one request that claims it gets
    new tokens. A token presented after it was rotated revokes its family."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_ENDPOINT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self):
        client = self._validate_request_client()
        self.request.client = client
        token = self.request.form.get("refresh_token")
        if not token:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        db = get_session()
        record = refresh_tokens.find(db, token)
        if record is None or record.client_id != client.client_id:
            raise InvalidGrantError("The refresh token is unknown, expired or revoked.")
        if record.used_at is not None and record.revoked_at is None:
            self._reused(db, record)
        if not refresh_tokens.is_live(record) or not record.member.can_sign_in:
            raise InvalidGrantError("The refresh token is unknown, expired or revoked.")
        asked = scope_to_list(self.request.payload.scope) or []
        if not set(asked).issubset(set(scope_to_list(record.scope) or [])):
            # A refresh never widens what the member granted (RFC 6749 §6).
            raise InvalidScopeError("The requested scope exceeds the scope granted.")
        asked_audience = requested_audience(self.request, client)
        if asked_audience is not None and asked_audience != (
            record.audience or settings().tokens.access_token_audience
        ):
            raise InvalidTargetError("The 'resource' differs from the one authorized.")
        if not refresh_tokens.claim(db, record):
            self._reused(db, record)
        self.request.refresh_token = record

    @staticmethod
    def _reused(db, record: RefreshToken):
        revoked = refresh_tokens.revoke_family(db, record.family_id, record.session_sid)
        audit.record(
            db,
            "refresh_token_reused",
            "failure",
            member_id=record.member_id,
            client_id=record.client_id,
            revoked=revoked,
        )
        db.commit()
        raise InvalidGrantError("The refresh token is unknown, expired or revoked.")

    def authenticate_user(self, refresh_token: RefreshToken) -> Member:
        return refresh_token.member

    def issue_token(self, user: Member, refresh_token: RefreshToken) -> dict:
        current = settings()
        client = self.request.client
        scope = self.request.payload.scope or refresh_token.scope
        context = refresh_token.authentication
        new_refresh, family_id = refresh_tokens.issue(
            get_session(),
            client_id=client.client_id,
            member_id=user.id,
            # RFC 6749 §6: the new refresh token has exactly the old one's scope.
            scope=refresh_token.scope,
            audience=refresh_token.audience,
            authentication=context,
            lifetimes=refresh_lifetimes(current),
            family_id=refresh_token.family_id,
            family_expires_at=refresh_token.family_expires_at,
        )
        token = issue_access_token(
            current,
            client,
            user,
            scope,
            authentication=context,
            audience=refresh_token.audience,
            family_id=family_id,
        )
        token["refresh_token"] = new_refresh
        if "openid" in (scope_to_list(scope) or []):
            token["id_token"] = refreshed_id_token(current, client, user, context, token["access_token"])
        return token

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        # Claimed (used_at) before the new tokens were made; kept to recognise reuse.
        get_session().commit()


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """A confidential client acting for itself (RFC 6749 §4.4): an access token for the scopes
    and audiences it is registered for; no refresh token, no ID token."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_ONLY

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()
        if client.is_public or not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client may not use 'grant_type=client_credentials'.")
        self.request.client = client
        asked = scope_to_list(self.request.payload.scope) or []
        allowed = [scope for scope in client.allowed_scopes if scope not in MEMBER_SCOPES]
        if any(scope not in allowed for scope in asked):
            raise InvalidScopeError("The requested scope is not allowed for this client.")
        self.request.granted_scope = list_to_scope(asked or allowed)
        self.request.audience = requested_audience(self.request, client)

    def create_token_response(self):
        token = issue_access_token(
            settings(), self.request.client, None, self.request.granted_scope, audience=self.request.audience
        )
        get_session().commit()
        return 200, token, self.TOKEN_RESPONSE_HEADER
