"""The token endpoint (RFC 6749 §3.2, §4.1.3, §5.2; RFC 7636 §4.6; RFC 9700 §2.1.1, §4.8)."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    code_from,
    exchange_code,
    pkce_pair,
)


def _code(client, member, request: AuthorizationRequest) -> str:
    """Sign in through the front channel (or reuse the session) and return the code."""
    response = client.get(request.url())
    if response.status_code == 303:
        browser = Browser(client)
        location = browser.follow_to_client(browser.login(response.headers["Location"], member.email, DEMO_PASSWORD))
    else:
        assert response.status_code == 302, response.status_code
        location = response.headers["Location"]
    return code_from(location, request)


def _basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _assert_error(response, error: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json["error"] == error, response.json
    assert "access_token" not in response.json and "id_token" not in response.json
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.mimetype == "application/json"


def _userinfo(client, access_token: str):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


@pytest.fixture
def member(make_member):
    return make_member()


@pytest.fixture
def confidential(make_client):
    return make_client()


# --- PKCE -----------------------------------------------------------------------------------


def test_wrong_code_verifier_is_invalid_grant(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    other_verifier, _ = pkce_pair()
    _assert_error(exchange_code(client, code, request, secret=secret, code_verifier=other_verifier), "invalid_grant")


def test_wrong_code_verifier_public_client_is_invalid_grant(client, member, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    other_verifier, _ = pkce_pair()
    _assert_error(exchange_code(client, code, request, code_verifier=other_verifier), "invalid_grant")


def test_code_verifier_equal_to_the_challenge_is_refused(client, member, make_client):
    """Sending the challenge itself as the verifier (as `plain` would) must not work."""
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request, code_verifier=request.challenge)
    _assert_error(response, "invalid_grant")


def test_missing_code_verifier_when_challenge_was_sent_is_invalid_request(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    _assert_error(exchange_code(client, code, request, secret=secret, code_verifier=None), "invalid_request")


def test_missing_code_verifier_public_client_is_invalid_request(client, member, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    _assert_error(exchange_code(client, code, request, code_verifier=None), "invalid_request")


def test_verifier_without_challenge_is_refused_pkce_downgrade(client, member, confidential):
    """RFC 9700 §4.8: a code_verifier for a code requested without code_challenge is refused."""
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id, use_pkce=False)
    code = _code(client, member, request)
    _assert_error(exchange_code(client, code, request, secret=secret), "invalid_request")


def test_confidential_client_without_pkce_works_by_default(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id, use_pkce=False)
    code = _code(client, member, request)
    response = exchange_code(client, code, request, secret=secret, code_verifier=None)
    assert response.status_code == 200, response.text


# --- Codes: single use, expiry, binding ----------------------------------------------------


def test_code_reuse_is_invalid_grant_and_revokes_the_first_tokens(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    first = exchange_code(client, code, request, secret=secret)
    assert first.status_code == 200, first.text
    access_token = first.json["access_token"]
    assert _userinfo(client, access_token).status_code == 200

    second = exchange_code(client, code, request, secret=secret)
    _assert_error(second, "invalid_grant")

    refused = _userinfo(client, access_token)
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers.get("WWW-Authenticate", "") or refused.json["error"] == "invalid_token"


def test_code_reuse_does_not_revoke_tokens_of_other_codes(client, member, confidential):
    rp, secret = confidential
    first_request = AuthorizationRequest(rp.client_id)
    first_code = _code(client, member, first_request)
    first = exchange_code(client, first_code, first_request, secret=secret)
    second_request = AuthorizationRequest(rp.client_id)
    second_code = _code(client, member, second_request)
    second = exchange_code(client, second_code, second_request, secret=secret)
    assert first.status_code == second.status_code == 200

    _assert_error(exchange_code(client, first_code, first_request, secret=secret), "invalid_grant")
    assert _userinfo(client, first.json["access_token"]).status_code == 401
    assert _userinfo(client, second.json["access_token"]).status_code == 200


def test_expired_code_is_invalid_grant(client, member, confidential, moving_clock):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    moving_clock.advance(61)
    _assert_error(exchange_code(client, code, request, secret=secret), "invalid_grant")


def test_code_just_before_expiry_works(client, member, confidential, moving_clock):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    moving_clock.advance(50)
    assert exchange_code(client, code, request, secret=secret).status_code == 200


def test_code_of_client_a_used_by_client_b_is_invalid_grant(client, member, make_client):
    rp_a, secret_a = make_client(name="A")
    rp_b, secret_b = make_client(name="B")
    request = AuthorizationRequest(rp_a.client_id)
    code = _code(client, member, request)
    as_b = AuthorizationRequest(rp_b.client_id)
    as_b.verifier = request.verifier
    _assert_error(exchange_code(client, code, as_b, secret=secret_b), "invalid_grant")
    # And B's attempt did not burn nor leak the code: A can still redeem it.
    assert exchange_code(client, code, request, secret=secret_a).status_code == 200


def test_code_of_public_client_used_by_another_public_client_is_invalid_grant(client, member, make_client):
    rp_a, _ = make_client(public=True, name="A")
    rp_b, _ = make_client(public=True, name="B")
    request = AuthorizationRequest(rp_a.client_id)
    code = _code(client, member, request)
    _assert_error(exchange_code(client, code, request, client_id=rp_b.client_id), "invalid_grant")


def test_redirect_uri_mismatch_is_invalid_grant(client, member, make_client):
    rp, secret = make_client(redirect_uris=["https://rp.example.test/callback", "https://rp.example.test/other"])
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    _assert_error(
        exchange_code(client, code, request, secret=secret, redirect_uri="https://rp.example.test/other"),
        "invalid_grant",
    )


def test_missing_redirect_uri_at_token_is_invalid_grant(client, member, confidential):
    """RFC 6749 §4.1.3: required (and identical) when it was in the authorization request."""
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    _assert_error(exchange_code(client, code, request, secret=secret, redirect_uri=None), "invalid_grant")


def test_unknown_code_is_invalid_grant(client, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    _assert_error(exchange_code(client, "not-a-code", request, secret=secret), "invalid_grant")


def test_missing_code_is_invalid_request(client, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    _assert_error(exchange_code(client, None, request, secret=secret), "invalid_request")


# --- Client authentication -----------------------------------------------------------------


def test_wrong_client_secret_basic_is_invalid_client_401(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request, secret=secret + "x")
    _assert_error(response, "invalid_client", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    # The code was not spent by the failed attempt.
    assert exchange_code(client, code, request, secret=secret).status_code == 200


def test_unknown_client_basic_is_invalid_client_401(client):
    request = AuthorizationRequest("no-such-client")
    response = exchange_code(client, "whatever", request, secret="secret")
    _assert_error(response, "invalid_client", status=401)


def test_no_client_authentication_at_all_is_invalid_client(client, member, confidential):
    rp, _ = confidential
    request = AuthorizationRequest(rp.client_id)
    response = client.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": request.redirect_uri},
    )
    assert response.status_code in (400, 401)
    _assert_error(response, "invalid_client", status=response.status_code)


def test_client_secret_post_client_works_with_secret_in_body(client, member, make_client):
    rp, secret = make_client(token_endpoint_auth_method="client_secret_post")
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request, client_secret=secret)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["id_token"] and response.json["access_token"]


def test_client_secret_post_client_with_wrong_secret_is_invalid_client(client, member, make_client):
    rp, secret = make_client(token_endpoint_auth_method="client_secret_post")
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request, client_secret=secret[:-1])
    _assert_error(response, "invalid_client", status=response.status_code)


def test_client_secret_post_client_may_not_use_basic(client, member, make_client):
    """A client uses the method it registered (check_endpoint_auth_method), no other."""
    rp, secret = make_client(token_endpoint_auth_method="client_secret_post")
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    _assert_error(exchange_code(client, code, request, secret=secret), "invalid_client", status=401)


def test_client_secret_basic_client_may_not_use_post(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request, client_secret=secret)
    _assert_error(response, "invalid_client", status=response.status_code)


def test_basic_and_body_secret_together_is_invalid_request(client, member, confidential):
    """RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request."""
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request, secret=secret, client_id=rp.client_id, client_secret=secret)
    _assert_error(response, "invalid_request")
    # Refused before the code was looked at: it still works with one method.
    assert exchange_code(client, code, request, secret=secret).status_code == 200


def test_public_client_with_none_and_pkce_works(client, member, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["token_type"] == "Bearer"
    assert "refresh_token" not in response.json


def test_public_client_sending_a_client_secret_is_refused(client, member, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request, client_secret="invented")
    _assert_error(response, "invalid_client", status=response.status_code)


def test_confidential_client_trying_none_is_invalid_client(client, member, confidential):
    rp, _ = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    response = exchange_code(client, code, request)  # client_id in the body, no secret
    _assert_error(response, "invalid_client", status=response.status_code)


# --- Grant types and response headers ------------------------------------------------------


@pytest.mark.parametrize("grant_type", ["password", "implicit", "bogus"])
def test_unsupported_grant_type(client, confidential, grant_type):
    rp, secret = confidential
    response = client.post(
        "/token",
        data={"grant_type": grant_type, "username": "x", "password": "y", "refresh_token": "z"},
        headers=_basic(rp.client_id, secret),
    )
    _assert_error(response, "unsupported_grant_type")


def test_missing_grant_type_is_refused(client, confidential):
    rp, secret = confidential
    response = client.post("/token", data={"code": "x"}, headers=_basic(rp.client_id, secret))
    assert response.status_code == 400
    assert response.json["error"] in ("unsupported_grant_type", "invalid_request")
    assert response.headers["Cache-Control"] == "no-store"


def test_token_endpoint_refuses_get(client):
    response = client.get("/token?grant_type=authorization_code")
    assert response.status_code == 405
    assert response.json["error"] == "invalid_request"


def test_every_token_response_has_no_store(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    code = _code(client, member, request)
    responses = [
        exchange_code(client, code, request, secret="wrong"),
        exchange_code(client, code, request, secret=secret),
        exchange_code(client, code, request, secret=secret),
        client.post("/token", data={"grant_type": "bogus"}),
        client.post("/token", data={}),
    ]
    assert [r.status_code for r in responses] == [401, 200, 400, 400, 400]
    for response in responses:
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"


def test_token_response_shape(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    response = exchange_code(client, _code(client, member, request), request, secret=secret)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"token_type", "access_token", "expires_in", "scope", "id_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600


# --- The access token at UserInfo ----------------------------------------------------------


def test_access_token_expires(client, member, confidential, moving_clock):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    tokens = exchange_code(client, _code(client, member, request), request, secret=secret).json
    moving_clock.advance(590)
    assert _userinfo(client, tokens["access_token"]).status_code == 200
    moving_clock.advance(11)
    assert _userinfo(client, tokens["access_token"]).status_code == 401


def test_tampered_access_token_is_refused(client, member, confidential):
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id)
    tokens = exchange_code(client, _code(client, member, request), request, secret=secret).json
    header, payload, signature = tokens["access_token"].split(".")
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    assert _userinfo(client, f"{header}.{payload}.{flipped}").status_code == 401
    unsigned = f"{header}.{payload}."
    assert _userinfo(client, unsigned).status_code == 401


def test_access_token_without_openid_scope_cannot_read_userinfo(client, member, confidential):
    """Documented behaviour: UserInfo is an OpenID Connect resource and needs `openid`."""
    rp, secret = confidential
    request = AuthorizationRequest(rp.client_id, scope="profile")
    tokens = exchange_code(client, _code(client, member, request), request, secret=secret).json
    response = _userinfo(client, tokens["access_token"])
    assert response.status_code == 403
    assert response.json["error"] == "insufficient_scope"


def test_client_id_with_nul_is_refused_or_invalid_client(client, confidential):
    rp, secret = confidential
    # NUL in the form: the whole request is refused (web.request_input).
    body = client.post("/token", data={"grant_type": "authorization_code", "code": "x", "client_id": "a\x00b"})
    _assert_error(body, "invalid_request", status=400)
    # NUL in the Basic header's client id: no such client.
    basic = client.post(
        "/token", data={"grant_type": "authorization_code", "code": "x"}, headers=_basic("a\x00b", secret)
    )
    _assert_error(basic, "invalid_client", status=401)


@pytest.mark.parametrize("grant_type", ["client_credentials", "refresh_token"])
def test_a_grant_the_client_is_not_registered_for_is_unauthorized_client(client, confidential, grant_type):
    rp, secret = confidential
    response = client.post(
        "/token", data={"grant_type": grant_type, "refresh_token": "z"}, headers=_basic(rp.client_id, secret)
    )
    _assert_error(response, "unauthorized_client")
