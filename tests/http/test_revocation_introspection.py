"""RFC 7009 revocation, RFC 7662 introspection for registered resource servers, and RFC 8707
`resource` choosing the audience. Tokens are checked with joserfc against /jwks."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.db import get_session
from idp.services import resource_servers
from tests.helpers.oidc import ISSUER, AuthorizationRequest, assert_error_redirect, verify_token
from tests.http.test_refresh_tokens import refresh, sign_in, userinfo

DEFAULT_AUDIENCE = "urn:benefit-services"
PENSIONS = "https://pensions.example.test"


def basic(name: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


@pytest.fixture
def make_resource_server(app):
    def factory(audience: str, name: str = "Benefit service") -> tuple[str, str]:
        with app.app_context():
            db = get_session()
            server, secret = resource_servers.create(db, name, audience)
            db.commit()
            return server.introspection_id, secret

    return factory


@pytest.fixture
def member(make_member):
    return make_member()


@pytest.fixture
def pensions(make_resource_server):
    return make_resource_server(PENSIONS, "Pensions")


@pytest.fixture
def app_client(make_client, pensions):
    return make_client(
        scopes=["openid", "profile", "offline_access", "benefits:read"],
        grant_types=["authorization_code", "refresh_token"],
        audiences=[PENSIONS],
    )


def introspect(client, credentials: tuple[str, str], token: str, **extra):
    response = client.post("/introspect", data={"token": token, **extra}, headers=basic(*credentials))
    assert response.headers["Cache-Control"] == "no-store"
    return response


def revoke(client, client_id: str, secret: str | None, token: str, hint: str | None = None):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    if secret is None:
        response = client.post("/revoke", data={**data, "client_id": client_id})
    else:
        response = client.post("/revoke", data=data, headers=basic(client_id, secret))
    assert response.headers["Cache-Control"] == "no-store"
    return response


# --- introspection ---------------------------------------------------------------------------


def test_an_active_token_shows_what_a_resource_server_needs(client, member, app_client, make_resource_server):
    registered, secret = app_client
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    tokens = sign_in(client, member, registered, secret)

    answer = introspect(client, benefits, tokens["access_token"])

    assert answer.status_code == 200
    body = answer.json
    claims = verify_token(tokens["access_token"], client.get("/jwks").json).claims
    assert body["active"] is True and body["token_type"] == "Bearer"
    assert body["iss"] == ISSUER and body["aud"] == DEFAULT_AUDIENCE
    assert body["sub"] == member.subject and body["client_id"] == registered.client_id
    assert body["scope"] == tokens["scope"]
    for name in ("exp", "iat", "acr", "auth_time"):
        assert body[name] == claims[name], name


def test_a_resource_server_sees_only_tokens_for_its_own_audience(client, member, app_client, make_resource_server):
    registered, secret = app_client
    pensions = make_resource_server("https://other.example.test")
    tokens = sign_in(client, member, registered, secret)
    assert introspect(client, pensions, tokens["access_token"]).json == {"active": False}


def test_inactive_for_expired_revoked_malformed_refresh_and_foreign_tokens(
    client, member, app_client, make_resource_server, moving_clock
):
    registered, secret = app_client
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    tokens = sign_in(client, member, registered, secret)
    claims = verify_token(tokens["access_token"], client.get("/jwks").json).claims
    ours = client.get("/jwks").json["keys"][0]["kid"]

    # A well-formed access token with our claims and even our kid, signed by someone else.
    stranger = RSAKey.generate_key(2048, parameters={"kid": ours})
    forged = jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": ours}, claims, stranger)
    foreign_issuer = jwt.encode(
        {"alg": "RS256", "typ": "at+jwt", "kid": "theirs"}, {**claims, "iss": "https://evil.example"}, stranger
    )
    unsigned = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in ({"alg": "none", "typ": "at+jwt"}, claims)
        )
        + "."
    )
    for token in ("", "nope", "a.b.c", forged, foreign_issuer, unsigned, tokens["refresh_token"], tokens["id_token"]):
        assert introspect(client, benefits, token).json == {"active": False}, token[:40]

    assert introspect(client, benefits, tokens["access_token"]).json["active"] is True
    moving_clock.advance(601)
    assert introspect(client, benefits, tokens["access_token"]).json == {"active": False}


def test_introspection_needs_resource_server_credentials(client, member, app_client, make_resource_server):
    registered, secret = app_client
    name, rs_secret = make_resource_server(DEFAULT_AUDIENCE)
    tokens = sign_in(client, member, registered, secret)
    for credentials in ((name, "wrong"), ("rs-unknown", rs_secret), (registered.client_id, secret)):
        answer = introspect(client, credentials, tokens["access_token"])
        assert answer.status_code == 401 and answer.json == {"error": "invalid_client"}
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
    unauthenticated = client.post("/introspect", data={"token": tokens["access_token"]})
    assert unauthenticated.status_code == 401
    # client_secret_post works too.
    posted = client.post(
        "/introspect", data={"token": tokens["access_token"], "client_id": name, "client_secret": rs_secret}
    )
    assert posted.json["active"] is True


# --- revocation ------------------------------------------------------------------------------


def test_revoking_an_access_token_records_its_jti(client, member, app_client, make_resource_server):
    registered, secret = app_client
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    tokens = sign_in(client, member, registered, secret)

    answer = revoke(client, registered.client_id, secret, tokens["access_token"], hint="access_token")

    assert answer.status_code == 200
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert introspect(client, benefits, tokens["access_token"]).json == {"active": False}
    # The refresh token was not the one revoked.
    assert refresh(client, registered, secret, tokens["refresh_token"]).status_code == 200


def test_revoking_a_refresh_token_ends_its_family(client, member, app_client):
    registered, secret = app_client
    first = sign_in(client, member, registered, secret)
    second = refresh(client, registered, secret, first["refresh_token"]).json

    # Without a hint, and with the wrong one, the token is still found (RFC 7009 §2.1).
    assert revoke(client, registered.client_id, secret, second["refresh_token"], hint="access_token").status_code == 200

    refused = refresh(client, registered, secret, second["refresh_token"])
    assert refused.status_code == 400 and refused.json["error"] == "invalid_grant"
    for tokens in (first, second):
        assert userinfo(client, tokens["access_token"]).status_code == 401


def test_unknown_and_other_clients_tokens_answer_200_and_revoke_nothing(client, member, app_client, make_client):
    registered, secret = app_client
    other, other_secret = make_client()
    tokens = sign_in(client, member, registered, secret)
    for token in ("nope", "a.b.c", tokens["access_token"], tokens["refresh_token"]):
        assert revoke(client, other.client_id, other_secret, token).status_code == 200
    assert userinfo(client, tokens["access_token"]).status_code == 200
    assert refresh(client, registered, secret, tokens["refresh_token"]).status_code == 200


def test_revocation_needs_client_authentication(client, member, app_client):
    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)
    answer = revoke(client, registered.client_id, "wrong", tokens["access_token"])
    assert answer.status_code == 401 and answer.json["error"] == "invalid_client"
    assert userinfo(client, tokens["access_token"]).status_code == 200
    assert client.post("/revoke", data={"token": tokens["access_token"]}).status_code == 401


def test_a_public_client_revokes_its_own_token_with_its_client_id(client, member, make_client):
    registered, _ = make_client(
        public=True, scopes=["openid", "offline_access"], grant_types=["authorization_code", "refresh_token"]
    )
    tokens = sign_in(client, member, registered, None, scope="openid offline_access")
    assert revoke(client, registered.client_id, None, tokens["refresh_token"]).status_code == 200
    assert refresh(client, registered, None, tokens["refresh_token"]).status_code == 400


# --- resource (RFC 8707) ---------------------------------------------------------------------


def test_resource_selects_a_registered_audience(client, member, app_client, make_resource_server, pensions):
    registered, secret = app_client
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    tokens = sign_in(client, member, registered, secret, resource=PENSIONS)
    assert verify_token(tokens["access_token"], client.get("/jwks").json).claims["aud"] == PENSIONS
    assert introspect(client, pensions, tokens["access_token"]).json["aud"] == PENSIONS
    assert introspect(client, benefits, tokens["access_token"]).json == {"active": False}
    # The refreshed access token keeps the audience.
    refreshed = refresh(client, registered, secret, tokens["refresh_token"]).json
    assert verify_token(refreshed["access_token"], client.get("/jwks").json).claims["aud"] == PENSIONS


@pytest.mark.parametrize("resource", ["https://unknown.example.test", "https://other.example.test"])
def test_an_unregistered_or_unallowed_resource_is_invalid_target(
    client, member, app_client, make_resource_server, resource
):
    registered, _ = app_client
    make_resource_server("https://other.example.test")  # registered, but not for this client
    request = AuthorizationRequest(registered.client_id, extra={"resource": resource})
    assert_error_redirect(client.get(request.url()), request, "invalid_target")


def test_the_token_request_cannot_switch_the_resource(client, member, app_client):
    from tests.conftest import DEMO_PASSWORD
    from tests.helpers.oidc import Browser, code_from, exchange_code

    registered, secret = app_client
    request = AuthorizationRequest(registered.client_id, scope="openid")
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    answer = exchange_code(client, code_from(location, request), request, secret=secret, resource=PENSIONS)
    assert answer.status_code == 400 and answer.json["error"] == "invalid_target"


def test_two_resources_are_invalid_target_and_the_default_audience_may_be_named(client, member, app_client):
    registered, secret = app_client
    request = AuthorizationRequest(registered.client_id)
    url = request.url() + "&resource=" + PENSIONS + "&resource=" + DEFAULT_AUDIENCE
    assert_error_redirect(client.get(url), request, "invalid_target")
    tokens = sign_in(client, member, registered, secret, resource=DEFAULT_AUDIENCE)
    assert verify_token(tokens["access_token"], client.get("/jwks").json).claims["aud"] == DEFAULT_AUDIENCE


def test_a_service_token_introspects_with_the_client_as_subject(client, make_client, make_resource_server):
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    service, secret = make_client(scopes=["benefits:read"], grant_types=["client_credentials"])
    token = client.post(
        "/token", data={"grant_type": "client_credentials"}, headers=basic(service.client_id, secret)
    ).json["access_token"]
    body = introspect(client, benefits, token).json
    assert body["active"] is True and body["sub"] == service.client_id == body["client_id"]
    assert "auth_time" not in body and body["scope"] == "benefits:read"
