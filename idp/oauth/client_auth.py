"""private_key_jwt (RFC 7523 §2.2, OpenID Connect Core §9): a client proves itself with a JWT
signed by a key of its registered JWKS. ``aud`` must be our token endpoint or issuer, the
lifetime is bounded (``tokens.client_assertion_max_lifetime_seconds``), and each ``jti`` is
accepted once, in every process (a unique row per client and jti, kept until it expires)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc.jwk import KeySet
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from idp.clock import utcnow
from idp.db import get_session
from idp.models import Client, ClientAssertionJti
from idp.runtime import settings
from idp.services import client_keys

PRIVATE_KEY_JWT = "private_key_jwt"


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=30)

    def get_audiences(self) -> list[str]:
        issuer = settings().server.issuer
        return [f"{issuer}/token", issuer]

    def verify_claims(self, claims) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int):
            raise InvalidClientError(description="The assertion needs a numeric 'exp'.")
        now = int(utcnow().timestamp())
        longest = settings().tokens.client_assertion_max_lifetime_seconds
        iat = claims.get("iat")
        if exp - now > longest or (isinstance(iat, int) and exp - iat > longest):
            raise InvalidClientError(description="The assertion lives too long.")
        if not isinstance(claims.get("jti"), str) or not 0 < len(claims["jti"]) <= 200:
            raise InvalidClientError(description="The assertion needs a 'jti'.")
        super().verify_claims(claims)

    def validate_jti(self, claims, jti: str) -> bool:
        db = get_session()
        expires_at = datetime.fromtimestamp(claims["exp"], tz=UTC) + timedelta(seconds=self.leeway)
        db.execute(delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < utcnow()))
        try:
            with db.begin_nested():
                db.add(ClientAssertionJti(client_id=claims["sub"], jti=jti, expires_at=expires_at))
        except IntegrityError:
            db.commit()
            return False
        db.commit()
        return True

    def resolve_client_public_key(self, client: Client):
        if client.token_endpoint_auth_method != PRIVATE_KEY_JWT:
            raise InvalidClientError(description="The client does not use private_key_jwt.")
        tokens = settings().tokens
        limits = client_keys.FetchLimits(
            timeout_seconds=tokens.jwks_uri_timeout_seconds,
            max_bytes=tokens.jwks_uri_max_bytes,
            cache_seconds=tokens.jwks_uri_cache_seconds,
        )

        def key_for(guest):
            kid = guest.headers().get("kid")
            try:
                jwks = client_keys.client_jwks(client.jwks_json, client.jwks_uri, limits, wanted_kid=kid)
                key_set = KeySet.import_key_set(jwks)
            except (client_keys.ClientKeysUnavailable, ValueError, TypeError, KeyError) as problem:
                raise InvalidClientError(description=f"The client's keys are unavailable: {problem}") from None
            if not kid and len(key_set.keys) == 1:
                return key_set.keys[0]
            try:
                return key_set.get_by_kid(kid)
            except (ValueError, KeyError):
                raise InvalidClientError(description="No key of the client has the assertion's kid.") from None

        return key_for
