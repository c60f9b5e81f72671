"""The Authlib authorization server, resource protector and UserInfo endpoint, wired for idp."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from authlib.integrations.flask_oauth2 import (
    AuthorizationServer as FlaskAuthorizationServer,
)
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidRequestError,
    OAuth2Request,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc6749.authorization_server import _create_grant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfoEndpoint
from flask import Flask
from flask import g as flask_g
from flask import request as flask_request

from idp.db import get_session
from idp.models import Client
from idp.oauth.claims import userinfo_claims
from idp.oauth.client_auth import PRIVATE_KEY_JWT, PrivateKeyJWT
from idp.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    IdpOpenIDCode,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from idp.oauth.revocation import IdpRevocationEndpoint
from idp.oauth.tokens import AccessTokenValidator
from idp.runtime import runtime
from idp.services.clients import find_client


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


# One answer for every failed client authentication (unknown client, wrong secret, wrong
# method), so the answer does not tell which client ids exist.
CLIENT_AUTHENTICATION_FAILED = "Client authentication failed."


@dataclass
class ClientAuthenticationLimits:
    """What the web layer counts around client authentication (``web.ratelimits``): each hook
    may raise to refuse the request. ``before(claimed)`` runs before any secret is checked,
    ``failed(claimed)`` after a failed authentication, ``succeeded(client)`` after a
    successful one (the per-client limit, so only a client's own requests count for it)."""

    before: Callable[[str], None]
    failed: Callable[[str], None]
    succeeded: Callable[[Client], None]
    # For a caller that is not a client (a resource server at introspection), by its name.
    succeeded_as: Callable[[str], None] = lambda name: None


def claimed_client_id(request: OAuth2Request) -> str:
    """The client id a token request names (Basic header or form), unverified."""
    client_id, _ = extract_basic_authorization(request.headers)
    return (client_id or request.form.get("client_id") or "")[:64]


class UnsupportedResponseType(UnsupportedResponseTypeError):
    """unsupported_response_type with a fixed description (Authlib's quotes the request)."""

    def __init__(self, redirect_uri: str | None) -> None:
        super().__init__("", description="The response type is not supported.", redirect_uri=redirect_uri)

    def get_error_description(self) -> str:
        return self.description


class IdpAuthorizationServer(FlaskAuthorizationServer):
    client_authentication_limits: ClientAuthenticationLimits | None = None

    def query_client(self, client_id: str) -> Client | None:
        # Once per request: a step that answers the authorization request reads the client
        # for its own checks (consent), then Authlib reads it again to issue the code.
        found = flask_g.setdefault("idp_clients_found", {})
        if client_id not in found:
            found[client_id] = find_client(get_session(), client_id)
        return found[client_id]

    def get_authorization_grant(self, request: OAuth2Request):
        """Authlib's, but its error never quotes the request: a value holding a character an
        error description may not carry (a double quote) made Authlib raise ValueError, a 500."""
        for grant_cls, extensions in self._authorization_grants:
            if grant_cls.check_authorization_endpoint(request):
                return _create_grant(grant_cls, extensions, request, self)
        # RFC 6749 §4.1.2.1: back to the client only once its redirect_uri is verified.
        redirect_uri = None
        client = self.query_client(request.payload.client_id or "")
        if (
            client is not None
            and request.payload.redirect_uri
            and client.check_redirect_uri(request.payload.redirect_uri)
        ):
            redirect_uri = request.payload.redirect_uri
        raise UnsupportedResponseType(redirect_uri)

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
        limits = self.client_authentication_limits
        claimed = claimed_client_id(request)
        if limits is not None:
            limits.before(claimed)
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as error:
            if limits is not None:
                limits.failed(claimed)
            # Keep the status (401 with a Basic challenge when the header was used), never
            # the text that tells an unknown client from a wrong secret.
            raise InvalidClientError(status_code=error.status_code, description=CLIENT_AUTHENTICATION_FAILED) from None
        if limits is not None:
            limits.succeeded(client)
        return client


class IdpIssuerParameter(IssuerParameter):
    """RFC 9207: every authorization response, errors included, names the issuer."""

    def get_issuer(self) -> str:
        return runtime().settings.server.issuer


FORM_ENCODED = "application/x-www-form-urlencoded"


def form_body_bearer_tokens() -> list[str]:
    """The access tokens of this request's form-encoded body (RFC 6750 §2.2): a POST whose
    body is ``application/x-www-form-urlencoded`` carrying ``access_token``. Empty for any
    other request; the query string (§2.3) is never read, since URLs end up in logs."""
    if flask_request.method != "POST" or flask_request.mimetype != FORM_ENCODED:
        return []
    return flask_request.form.getlist("access_token")


class BearerResourceProtector(ResourceProtector):
    """Authlib's protector reads the token from the ``Authorization`` header only (RFC 6750
    §2.1). UserInfo also takes it from a form-encoded POST body (§2.2), which OpenID Connect
    Core §5.3.1 lets a client use and certified RP libraries (pyoidc) send by default. A
    request carrying it twice, or in both places, is refused: §2 allows one method."""

    def parse_request_authorization(self, request):
        body_tokens = form_body_bearer_tokens()
        if not body_tokens:
            return super().parse_request_authorization(request)
        if len(body_tokens) > 1 or request.headers.get("Authorization"):
            raise InvalidRequestError("Send the access token once: in the Authorization header or in the body.")
        return self.get_token_validator("bearer"), body_tokens[0]


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
    protector = BearerResourceProtector()
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
