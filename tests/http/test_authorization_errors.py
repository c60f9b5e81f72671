"""The authorization endpoint refusing requests (RFC 6749 §4.1.2.1, RFC 9700 §4.1, RFC 7636,
RFC 9207, OpenID Connect Core §3.1.2).

Until the client and its redirect_uri are verified, an error is shown on our own page and is
never a redirect (an open redirector otherwise). After that, errors go back to the client with
`error`, `state` and `iss`.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    DEFAULT_REDIRECT_URI,
    ISSUER,
    AuthorizationRequest,
    Browser,
    assert_error_page,
    assert_error_redirect,
    code_from,
    exchange_code,
    interaction_uid,
    query_of,
)

# --- Before the client and redirect_uri are verified: our page, never a redirect ------------


def test_unknown_client_id_shows_error_page(client):
    request = AuthorizationRequest("no-such-client")
    response = client.get(request.url())
    assert_error_page(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert DEFAULT_REDIRECT_URI not in response.headers.get("Location", "")


def test_missing_client_id_shows_error_page(client):
    request = AuthorizationRequest("x", extra={"client_id": None})
    assert_error_page(client.get(request.url()))


def test_unknown_client_with_attacker_redirect_is_not_followed(client):
    request = AuthorizationRequest("no-such-client", redirect_uri="https://attacker.example/steal")
    response = client.get(request.url())
    assert_error_page(response)
    assert "attacker.example" not in response.headers.get("Location", "")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://attacker.example/callback",
        "https://rp.example.test/callback/extra",  # registered URI as a prefix
        "https://rp.example.test/call",  # a prefix of the registered URI
        "https://rp.example.test/callbackx",  # suffix added
        "https://RP.example.test/callback",  # host case differs
        "https://rp.example.test/Callback",  # path case differs
        "https://rp.example.test:443/callback",  # explicit default port
        "https://rp.example.test:8443/callback",  # other port
        "http://rp.example.test/callback",  # scheme downgrade
        "https://rp.example.test/callback?next=https://attacker.example",  # extra query parameter
        "https://rp.example.test/callback#fragment",
        "https://rp.example.test.attacker.example/callback",
        "https://rp.example.test/callback/",  # trailing slash
    ],
)
def test_unregistered_redirect_uri_shows_error_page(client, make_client, redirect_uri):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, redirect_uri=redirect_uri)
    response = client.get(request.url())
    assert_error_page(response, "invalid_request")


def test_unregistered_redirect_uri_is_refused_even_when_signed_in(client, make_member, make_client):
    """A signed-in browser is the valuable case: the code must never go to an unknown URI."""
    member = make_member()
    rp, _ = make_client()
    Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    response = client.get(AuthorizationRequest(rp.client_id, redirect_uri="https://attacker.example/cb").url())
    assert_error_page(response, "invalid_request")


def test_missing_redirect_uri_shows_error_page_even_with_one_registered(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"redirect_uri": None})
    response = client.get(request.url())
    assert_error_page(response, "invalid_request")


def test_unsupported_response_type_with_unverified_redirect_shows_error_page(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(
        rp.client_id, redirect_uri="https://attacker.example/cb", extra={"response_type": "token"}
    )
    assert_error_page(client.get(request.url()))


# --- After verification: back to the client with error, state and iss ----------------------


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token", "bogus"])
def test_unsupported_response_type_redirects_back(client, make_client, response_type):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"response_type": response_type})
    response = client.get(request.url())
    assert_error_redirect(response, request, "unsupported_response_type")
    # Never a fragment (implicit-style) response.
    assert "#" not in response.headers["Location"]


def test_missing_response_type_redirects_back(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"response_type": None})
    assert_error_redirect(client.get(request.url()), request, "unsupported_response_type")


def test_public_client_without_code_challenge_is_invalid_request(client, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id, use_pkce=False)
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_code_challenge_method_plain_is_invalid_request(client, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id)
    request.extra = {"code_challenge": request.verifier, "code_challenge_method": "plain"}
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_code_challenge_method_plain_is_refused_for_confidential_clients_too(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id)
    request.extra = {"code_challenge": request.verifier, "code_challenge_method": "plain"}
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_code_challenge_without_method_is_invalid_request(client, make_client):
    """RFC 7636 §4.3: a missing method means `plain`, which is not allowed (RFC 9700 §2.1.1)."""
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id, extra={"code_challenge_method": None})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_unknown_code_challenge_method_is_invalid_request(client, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id, extra={"code_challenge_method": "S512"})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_malformed_code_challenge_is_invalid_request(client, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id, extra={"code_challenge": "too-short"})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


@pytest.mark.settings(tokens={"require_pkce_for_confidential_clients": True})
def test_confidential_client_without_pkce_when_required_is_invalid_request(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, use_pkce=False)
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_confidential_client_without_pkce_is_allowed_by_default(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, use_pkce=False)
    response = client.get(request.url())
    assert response.status_code == 303
    interaction_uid(response.headers["Location"])


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", " 10", "1e3", "99999999999"])
def test_bad_max_age_is_invalid_request(client, make_client, max_age):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"max_age": max_age})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


@pytest.mark.parametrize("prompt", ["bogus", "login bogus", "select"])
def test_unknown_prompt_value_is_invalid_request(client, make_client, prompt):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"prompt": prompt})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


@pytest.mark.parametrize("prompt", ["none login", "none consent", "login none"])
def test_prompt_none_with_other_values_is_invalid_request(client, make_client, prompt):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"prompt": prompt})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_prompt_none_with_other_values_is_invalid_request_when_signed_in(client, make_member, make_client):
    member = make_member()
    rp, _ = make_client()
    browser = Browser(client)
    browser.sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none login"})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_bad_max_age_is_invalid_request_when_signed_in(client, make_member, make_client):
    member = make_member()
    rp, _ = make_client()
    Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    request = AuthorizationRequest(rp.client_id, extra={"max_age": "-5"})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_repeated_parameter_is_refused(client, make_client):
    """RFC 6749 §3.1: parameters MUST NOT be repeated. A repeated redirect_uri or client_id
    leaves no trustworthy place to send an error: our page. Any other goes back to the
    client, whose redirect URI is verified by then (issue 9)."""
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id)
    assert_error_redirect(
        client.get(request.url() + "&" + urlencode({"scope": "openid email"})), request, "invalid_request"
    )
    assert_error_page(
        client.get(request.url() + "&" + urlencode({"redirect_uri": "https://attacker.example/cb"})),
        "invalid_request",
    )
    assert_error_page(client.get(request.url() + "&" + urlencode({"client_id": "other"})), "invalid_request")


def test_repeated_code_challenge_is_invalid_request(client, make_client):
    rp, _ = make_client(public=True)
    request = AuthorizationRequest(rp.client_id)
    response = client.get(request.url() + "&" + urlencode({"code_challenge": request.challenge}))
    assert_error_redirect(response, request, "invalid_request")


def test_state_is_echoed_exactly(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, state="a b&c=d/é", extra={"response_type": "token"})
    assert_error_redirect(client.get(request.url()), request, "unsupported_response_type")


def test_error_redirect_keeps_registered_query_of_redirect_uri(client, make_client):
    """A registered redirect_uri with a query keeps it; the error parameters are added to it."""
    registered = "https://rp.example.test/cb?tenant=7"
    rp, _ = make_client(redirect_uris=[registered])
    request = AuthorizationRequest(rp.client_id, redirect_uri=registered, extra={"response_type": "token"})
    response = client.get(request.url())
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("https://rp.example.test/cb?")
    assert "tenant=7" in location and "error=unsupported_response_type" in location


# --- Scopes and unknown parameters ---------------------------------------------------------


def test_scopes_not_allowed_for_the_client_are_dropped(client, make_member, make_client):
    """Documented behaviour: the request is not refused; scopes the client may not have, and
    unknown ones, are dropped (RFC 6749 §3.3 lets the server grant less), and the token
    response says which scope was granted."""
    member = make_member()
    rp, secret = make_client(scopes=["openid", "profile"])
    request = AuthorizationRequest(rp.client_id, scope="openid profile email phone no-such-scope")
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    code = code_from(location, request)
    response = exchange_code(client, code, request, secret=secret)
    assert response.status_code == 200, response.text
    assert response.json["scope"] == "openid profile"
    userinfo = client.get("/userinfo", headers={"Authorization": f"Bearer {response.json['access_token']}"})
    assert userinfo.status_code == 200
    assert "email" not in userinfo.json and "phone_number" not in userinfo.json
    assert userinfo.json["name"] == member.full_name


def test_request_without_openid_scope_gets_no_id_token(client, make_member, make_client):
    """Documented behaviour: without `openid` this is plain OAuth 2.0: no ID token."""
    member = make_member()
    rp, secret = make_client()
    request = AuthorizationRequest(rp.client_id, scope="profile")
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    response = exchange_code(client, code_from(location, request), request, secret=secret)
    assert response.status_code == 200, response.text
    assert response.json["scope"] == "profile"
    assert "id_token" not in response.json


def test_unknown_extra_parameters_are_ignored(client, make_member, make_client):
    member = make_member()
    rp, secret = make_client()
    request = AuthorizationRequest(
        rp.client_id,
        extra={"foo": "bar", "claims_locales": "id", "display": "page", "x-custom": "<script>"},
    )
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    code = code_from(location, request)
    assert "foo" not in location and "x-custom" not in location
    response = exchange_code(client, code, request, secret=secret)
    assert response.status_code == 200, response.text
    assert response.json["id_token"]


def test_authorization_request_by_form_post_works(client, make_member, make_client):
    """OpenID Connect Core §3.1.2.1: the authorization endpoint also accepts POST."""
    member = make_member()
    rp, secret = make_client()
    request = AuthorizationRequest(rp.client_id)
    started = client.post("/authorize", data=request.params())
    assert started.status_code == 303
    browser = Browser(client)
    location = browser.follow_to_client(browser.login(started.headers["Location"], member.email, DEMO_PASSWORD))
    response = exchange_code(client, code_from(location, request), request, secret=secret)
    assert response.status_code == 200, response.text


# --- Request objects (not supported; discovery says so) ------------------------------------


def test_request_object_is_request_not_supported(client, make_client):
    """OpenID Connect Core §6.1: an OP that does not support `request` MUST return
    request_not_supported, not silently ignore what the RP put in it."""
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"request": "eyJhbGciOiJub25lIn0.eyJwcm9tcHQiOiJsb2dpbiJ9."})
    assert_error_redirect(client.get(request.url()), request, "request_not_supported")


def test_request_uri_is_request_uri_not_supported(client, make_client):
    """OpenID Connect Core §6.2: likewise request_uri_not_supported."""
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"request_uri": "https://rp.example.test/request.jwt"})
    assert_error_redirect(client.get(request.url()), request, "request_uri_not_supported")


def test_request_object_is_refused_even_when_signed_in(client, make_member, make_client):
    member = make_member()
    rp, _ = make_client()
    Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    request = AuthorizationRequest(rp.client_id, extra={"request": "x.y.z"})
    assert_error_redirect(client.get(request.url()), request, "request_not_supported")


def test_code_in_the_query_when_asked(client, make_member, make_client):
    """``response_mode=query`` (the default for code); form_post and refusals of other
    modes are in tests/http/test_authorization_request.py."""
    member = make_member()
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"response_mode": "query"})
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    assert "#" not in location
    code_from(location, request)


def test_error_without_state_in_the_request_has_no_state(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, state=None, extra={"response_type": "token"})
    response = client.get(request.url())
    assert response.status_code == 302
    params = query_of(response.headers["Location"])
    assert params["error"] == "unsupported_response_type"
    assert params["iss"] == ISSUER
    assert "state" not in params


def test_error_page_does_not_reflect_markup(client):
    response = client.get(
        "/authorize?" + urlencode({"client_id": "<script>alert(1)</script>", "response_type": "<script>x</script>"})
    )
    assert_error_page(response)
    assert "<script>" not in response.text


# --- Values no database can hold (PostgreSQL text refuses NUL) -----------------------------


def _refused_whole(response) -> None:
    """NUL anywhere in the request is refused before anything reads it (web.request_input):
    400, our own page, never a redirect to whatever the request names."""
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers


def test_client_id_with_nul_is_refused(client, make_client):
    rp, _ = make_client()
    _refused_whole(client.get(AuthorizationRequest(rp.client_id + "\x00").url()))


def test_nonce_with_nul_is_refused(client, make_client):
    rp, _ = make_client()
    _refused_whole(client.get(AuthorizationRequest(rp.client_id, nonce="abc\x00def").url()))


def test_nonce_longer_than_512_characters_is_invalid_request(client, make_member, make_client):
    """A nonce is stored with the code and indexed with the client id (the replay check): an
    unbounded one could not be indexed (PostgreSQL's B-tree entry limit), so it is refused;
    512 characters still go through."""
    member = make_member()
    rp, _ = make_client()
    too_long = AuthorizationRequest(rp.client_id, nonce="n" * 513)
    assert_error_redirect(client.get(too_long.url()), too_long, "invalid_request")
    longest = AuthorizationRequest(rp.client_id, nonce="n" * 512)
    assert code_from(Browser(client).sign_in(longest, member.email, DEMO_PASSWORD), longest)


def test_state_and_login_hint_with_nul_are_refused(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, state="st\x00ate", extra={"login_hint": "a\x00b"})
    _refused_whole(client.get(request.url()))
