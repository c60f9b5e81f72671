"""ID token details (OpenID Connect Core §2, §3.1.2.1, §3.1.3.6, §3.1.3.7), verified against /jwks."""

from __future__ import annotations

import time

import pytest
from joserfc.jwt import JWTClaimsRegistry

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    ISSUER,
    AuthorizationRequest,
    Browser,
    assert_error_redirect,
    code_from,
    exchange_code,
    half_hash,
    verify_token,
)


def _tokens(client, member, request, secret):
    response = client.get(request.url())
    if response.status_code == 303:
        browser = Browser(client)
        location = browser.follow_to_client(browser.login(response.headers["Location"], member.email, DEMO_PASSWORD))
    else:
        location = response.headers["Location"]
    token_response = exchange_code(client, code_from(location, request), request, secret=secret)
    assert token_response.status_code == 200, token_response.text
    return token_response.json


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_id_token_signed_with_the_client_algorithm_and_a_published_key(client, make_member, make_client, alg):
    member = make_member()
    rp, secret = make_client(id_token_signed_response_alg=alg)
    request = AuthorizationRequest(rp.client_id)
    tokens = _tokens(client, member, request, secret)

    jwks = client.get("/jwks").json
    id_token = verify_token(tokens["id_token"], jwks, algorithms=[alg])
    assert id_token.header["alg"] == alg
    published = {key["kid"]: key for key in jwks["keys"]}
    assert id_token.header["kid"] in published
    key = published[id_token.header["kid"]]
    assert key["alg"] == alg
    assert key["kty"] == ("RSA" if alg == "RS256" else "EC")
    if alg == "ES256":
        assert key["crv"] == "P-256"

    JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": rp.client_id},
        sub={"essential": True, "value": member.subject},
        nonce={"essential": True, "value": request.nonce},
    ).validate(id_token.claims)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_id_token_does_not_verify_with_the_other_algorithm(client, make_member, make_client, alg):
    """An RP pinned to the registered algorithm refuses anything else (no alg confusion)."""
    from joserfc.errors import JoseError

    member = make_member()
    rp, secret = make_client(id_token_signed_response_alg=alg)
    tokens = _tokens(client, member, AuthorizationRequest(rp.client_id), secret)
    other = "ES256" if alg == "RS256" else "RS256"
    with pytest.raises(JoseError):
        verify_token(tokens["id_token"], client.get("/jwks").json, algorithms=[other])


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_at_hash_matches_the_access_token(client, make_member, make_client, alg):
    member = make_member()
    rp, secret = make_client(id_token_signed_response_alg=alg)
    tokens = _tokens(client, member, AuthorizationRequest(rp.client_id), secret)
    claims = verify_token(tokens["id_token"], client.get("/jwks").json).claims
    assert claims["at_hash"] == half_hash(tokens["access_token"])
    assert claims["at_hash"] != half_hash(tokens["access_token"] + "x")


@pytest.mark.settings(tokens={"default_id_token_signing_alg": "ES256"})
def test_client_algorithm_wins_over_default(client, make_member, make_client):
    member = make_member()
    rp, secret = make_client(id_token_signed_response_alg="RS256")
    tokens = _tokens(client, member, AuthorizationRequest(rp.client_id), secret)
    assert verify_token(tokens["id_token"], client.get("/jwks").json).header["alg"] == "RS256"


def test_nonce_is_echoed(client, make_member, make_client):
    member = make_member()
    rp, secret = make_client()
    request = AuthorizationRequest(rp.client_id, nonce="n-0S6_WzA2Mj")
    tokens = _tokens(client, member, request, secret)
    assert verify_token(tokens["id_token"], client.get("/jwks").json).claims["nonce"] == "n-0S6_WzA2Mj"


def test_no_nonce_in_request_means_no_nonce_claim(client, make_member, make_client):
    member = make_member()
    rp, secret = make_client()
    request = AuthorizationRequest(rp.client_id, nonce=None)
    assert "nonce" not in request.params()
    tokens = _tokens(client, member, request, secret)
    assert "nonce" not in verify_token(tokens["id_token"], client.get("/jwks").json).claims


def test_reused_nonce_is_refused_as_replay(client, make_member, make_client):
    """Authlib's replay check: a nonce already bound to a code of this client is refused with
    invalid_request, sent back to the client (state and iss included). No second code."""
    member = make_member()
    rp, secret = make_client()
    first = AuthorizationRequest(rp.client_id, nonce="same-nonce-value")
    _tokens(client, member, first, secret)

    second = AuthorizationRequest(rp.client_id, nonce="same-nonce-value")
    params = assert_error_redirect(client.get(second.url()), second, "invalid_request")
    assert "code" not in params


def test_reused_nonce_is_refused_even_before_the_first_code_is_redeemed(client, make_member, make_client):
    member = make_member()
    rp, _ = make_client()
    first = AuthorizationRequest(rp.client_id, nonce="pending-nonce")
    browser = Browser(client)
    code_from(browser.sign_in(first, member.email, DEMO_PASSWORD), first)
    second = AuthorizationRequest(rp.client_id, nonce="pending-nonce")
    assert_error_redirect(client.get(second.url()), second, "invalid_request")


def test_same_nonce_for_another_client_is_accepted(client, make_member, make_client):
    """The replay check is per client: two RPs may happen to choose the same nonce."""
    member = make_member()
    rp_a, secret_a = make_client(name="A")
    rp_b, secret_b = make_client(name="B")
    _tokens(client, member, AuthorizationRequest(rp_a.client_id, nonce="shared"), secret_a)
    tokens = _tokens(client, member, AuthorizationRequest(rp_b.client_id, nonce="shared"), secret_b)
    assert verify_token(tokens["id_token"], client.get("/jwks").json).claims["nonce"] == "shared"


def test_id_token_times(client, make_member, make_client):
    member = make_member()
    rp, secret = make_client()
    tokens = _tokens(client, member, AuthorizationRequest(rp.client_id), secret)
    claims = verify_token(tokens["id_token"], client.get("/jwks").json).claims
    now = time.time()
    assert abs(claims["iat"] - now) < 30
    assert claims["exp"] - claims["iat"] == 600
    assert claims["auth_time"] <= claims["iat"]
    assert isinstance(claims["auth_time"], int)


def test_id_token_carries_only_sub_of_the_member_claims(client, make_member, make_client):
    """Profile claims come from UserInfo (OpenID Connect Core §5.4), not from the ID token."""
    member = make_member()
    rp, secret = make_client()
    request = AuthorizationRequest(rp.client_id, scope="openid profile email membership")
    claims = verify_token(_tokens(client, member, request, secret)["id_token"], client.get("/jwks").json).claims
    for private in ("email", "name", "birthdate", "membership_number", "phone_number"):
        assert private not in claims


def test_access_token_is_not_accepted_as_id_token_type(client, make_member, make_client):
    """The access token is typed at+jwt (RFC 9068) and the ID token JWT, so neither passes as the other."""
    member = make_member()
    rp, secret = make_client()
    tokens = _tokens(client, member, AuthorizationRequest(rp.client_id), secret)
    jwks = client.get("/jwks").json
    assert verify_token(tokens["access_token"], jwks).header["typ"] == "at+jwt"
    assert verify_token(tokens["id_token"], jwks).header.get("typ", "JWT") == "JWT"
    # The ID token is refused as a Bearer token at UserInfo.
    refused = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert refused.status_code == 401
