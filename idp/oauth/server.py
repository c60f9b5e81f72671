"""The Authlib authorization server, resource protector and UserInfo endpoint, wired for idp."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import (
    AuthorizationServer as FlaskAuthorizationServer,
)
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfoEndpoint
from flask import Flask
from flask import g as flask_g
from flask import request as flask_request
from sqlalchemy import select

from idp.db import get_session
from idp.models import Client
from idp.oauth.client_auth import PRIVATE_KEY_JWT, PrivateKeyJWT
from idp.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    IdpOpenIDCode,
    RefreshTokenGrant,
    S256CodeChallenge,
    userinfo_claims,
)
from idp.oauth.revocation import IdpRevocationEndpoint
from idp.oauth.tokens import AccessTokenValidator
from idp.runtime import runtime


class StoredAuthorizationRequest(OAuth2Request):
    """An authorization request replayed from the parameters held in an Interaction."""

    def __init__(self, uri: str, params: dict[str, str]) -> None:
        super().__init__("GET", uri, headers={})
        self.payload = BasicOAuth2Payload(params)
        self._params = params

    @property
    def args(self):
        return self._params

    @property
    def form(self):
        return {}


class IdpAuthorizationServer(FlaskAuthorizationServer):
    def query_client(self, client_id: str) -> Client | None:
        # No registered id is longer than 64 or holds a NUL, and PostgreSQL refuses to compare
        # text containing NUL (an error, a 500, instead of "unknown client").
        if not client_id or len(client_id) > 64 or "\x00" in client_id:
            return None
        return get_session().scalar(select(Client).where(Client.client_id == client_id))

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        # Access tokens are recorded as they are issued (idp.oauth.tokens); commit them here.
        get_session().commit()

    def create_oauth2_request(self, request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return FlaskOAuth2Request(flask_request)

    def create_token_response(self, request=None):
        # RFC 6749 §3.2: request parameters MUST NOT be included more than once.
        oauth_request = self.create_oauth2_request(request)
        repeated = sorted(name for name, values in oauth_request.payload.datalist.items() if len(values) > 1)
        if repeated:
            error = InvalidRequestError(f"Repeated parameter: {', '.join(repeated)}.")
            return self.handle_error_response(oauth_request, error)
        return super().create_token_response(oauth_request)

    def authenticate_client(self, request: OAuth2Request, methods, endpoint="token"):
        # RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
        has_basic = request.headers.get("Authorization", "").lower().startswith("basic ")
        if has_basic and request.form.get("client_secret"):
            raise InvalidRequestError("Use one client authentication method, not several.")
        return super().authenticate_client(request, methods, endpoint)


class IdpIssuerParameter(IssuerParameter):
    """RFC 9207: every authorization response, errors included, names the issuer."""

    def get_issuer(self) -> str:
        return runtime().settings.server.issuer


class IdpUserInfoEndpoint(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return runtime().settings.server.issuer

    def generate_user_info(self, user, scope: str) -> dict:
        # The token Authlib's resource protector just validated (this request's).
        token = flask_g.authlib_server_oauth2_token
        return userinfo_claims(user, scope, token.record.claims_json)


def init_app(app: Flask) -> IdpAuthorizationServer:
    """Build this app's authorization server; it is found again with ``get_server()``."""
    settings = runtime(app).settings
    server = IdpAuthorizationServer()
    server.init_app(app)
    server.register_grant(
        AuthorizationCodeGrant, [S256CodeChallenge(required=True), IdpOpenIDCode(require_nonce=False)]
    )
    server.register_grant(RefreshTokenGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method(PRIVATE_KEY_JWT, PrivateKeyJWT())
    server.register_endpoint(IdpRevocationEndpoint)
    server.register_extension(IdpIssuerParameter())
    protector = ResourceProtector()
    protector.register_token_validator(
        AccessTokenValidator(settings.server.issuer, settings.keys.retired_key_publish_seconds)
    )
    server.register_endpoint(IdpUserInfoEndpoint(resource_protector=protector))
    runtime(app).authorization_server = server
    return server


def get_server() -> IdpAuthorizationServer:
    server = runtime().authorization_server
    assert server is not None, "create_app builds the authorization server"
    return server
