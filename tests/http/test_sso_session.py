"""The sign-in session across authorization requests (OpenID Connect Core §3.1.2.1 prompt and
max_age, §2 auth_time), and the session cookie itself."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    assert_error_redirect,
    code_from,
    csrf_token,
    exchange_code,
    login_page_uid,
    set_cookies,
    verify_token,
)

HTTPS_ISSUER = "https://idp.test"


def _claims(client, request, secret, location):
    response = exchange_code(client, code_from(location, request), request, secret=secret)
    assert response.status_code == 200, response.text
    return verify_token(response.json["id_token"], client.get("/jwks").json).claims


def _sign_in(client, member, rp):
    request = AuthorizationRequest(rp.client_id)
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    code_from(location, request)
    return request, location


def _relogin(client, member, response):
    """The request went to the login page: sign in there and follow back to the client."""
    login_page_uid(response)
    browser = Browser(client)
    return browser.follow_to_client(browser.login(response.headers["Location"], member.email, DEMO_PASSWORD))


@pytest.fixture
def member(make_member):
    return make_member()


# --- Single sign-on ------------------------------------------------------------------------


def test_second_authorize_same_client_gets_code_without_login(client, member, make_client):
    rp, secret = make_client()
    _sign_in(client, member, rp)
    request = AuthorizationRequest(rp.client_id)
    response = client.get(request.url())
    assert response.status_code == 302, response.status_code
    assert response.headers["Cache-Control"] == "no-store"
    claims = _claims(client, request, secret, response.headers["Location"])
    assert claims["sub"] == member.subject


def test_second_first_party_client_gets_code_without_login(client, member, make_client):
    rp_a, _ = make_client(name="A")
    rp_b, secret_b = make_client(name="B", redirect_uris=["https://b.example.test/cb"])
    _sign_in(client, member, rp_a)
    request = AuthorizationRequest(rp_b.client_id, redirect_uri="https://b.example.test/cb")
    response = client.get(request.url())
    assert response.status_code == 302
    claims = _claims(client, request, secret_b, response.headers["Location"])
    assert claims["sub"] == member.subject
    assert claims["aud"] == rp_b.client_id


def test_sso_id_tokens_share_sid_and_auth_time(client, member, make_client):
    rp, secret = make_client()
    first_request, first_location = _sign_in(client, member, rp)
    first = _claims(client, first_request, secret, first_location)
    request = AuthorizationRequest(rp.client_id)
    second = _claims(client, request, secret, client.get(request.url()).headers["Location"])
    assert second["sid"] == first["sid"]
    assert second["auth_time"] == first["auth_time"]


def test_other_browser_is_not_signed_in(app, client, member, make_client):
    rp, _ = make_client()
    _sign_in(client, member, rp)
    other = app.test_client()
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert_error_redirect(other.get(request.url()), request, "login_required")


# --- prompt --------------------------------------------------------------------------------


def test_prompt_none_with_session_gets_code(client, member, make_client):
    rp, secret = make_client()
    _sign_in(client, member, rp)
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    response = client.get(request.url())
    assert response.status_code == 302
    assert _claims(client, request, secret, response.headers["Location"])["sub"] == member.subject


def test_prompt_none_without_session_is_login_required(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    response = client.get(request.url())
    assert_error_redirect(response, request, "login_required")
    assert response.headers["Cache-Control"] == "no-store"


def test_prompt_none_without_openid_scope_and_without_session_is_login_required(client, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id, scope="profile", extra={"prompt": "none"})
    assert_error_redirect(client.get(request.url()), request, "login_required")


def test_prompt_login_shows_login_again_and_auth_time_moves(client, member, make_client, moving_clock):
    rp, secret = make_client()
    first_request, first_location = _sign_in(client, member, rp)
    first = _claims(client, first_request, secret, first_location)

    moving_clock.advance(120)
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "login"})
    response = client.get(request.url())
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and 'data-testid="login-form"' in page.text

    second = _claims(client, request, secret, _relogin(client, member, response))
    assert second["auth_time"] >= first["auth_time"] + 119
    assert second["sub"] == first["sub"]


def test_prompt_login_then_abandoned_keeps_the_old_session(client, member, make_client):
    """Showing the login page again does not sign the member out (the RP asked, not the member)."""
    rp, _ = make_client()
    _sign_in(client, member, rp)
    assert client.get(AuthorizationRequest(rp.client_id, extra={"prompt": "login"}).url()).status_code == 303
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert client.get(request.url()).status_code == 302


# --- max_age -------------------------------------------------------------------------------


def test_max_age_zero_forces_login(client, member, make_client, moving_clock):
    rp, secret = make_client()
    _sign_in(client, member, rp)
    request = AuthorizationRequest(rp.client_id, extra={"max_age": "0"})
    response = client.get(request.url())
    assert response.status_code == 303
    claims = _claims(client, request, secret, _relogin(client, member, response))
    assert "auth_time" in claims


def test_max_age_long_enough_soon_after_sign_in_needs_no_login(client, member, make_client, moving_clock):
    rp, secret = make_client()
    first_request, first_location = _sign_in(client, member, rp)
    first = _claims(client, first_request, secret, first_location)
    moving_clock.advance(30)
    request = AuthorizationRequest(rp.client_id, extra={"max_age": "3600"})
    response = client.get(request.url())
    assert response.status_code == 302
    claims = _claims(client, request, secret, response.headers["Location"])
    # OpenID Connect Core §3.1.2.1: with max_age, auth_time is REQUIRED.
    assert claims["auth_time"] == first["auth_time"]


def test_max_age_exceeded_forces_login_and_auth_time_is_the_new_sign_in(client, member, make_client, moving_clock):
    rp, secret = make_client()
    first_request, first_location = _sign_in(client, member, rp)
    first = _claims(client, first_request, secret, first_location)
    moving_clock.advance(120)
    request = AuthorizationRequest(rp.client_id, extra={"max_age": "60"})
    response = client.get(request.url())
    assert response.status_code == 303
    claims = _claims(client, request, secret, _relogin(client, member, response))
    assert claims["auth_time"] >= first["auth_time"] + 119
    assert abs(claims["iat"] - claims["auth_time"]) <= 5


def test_max_age_exceeded_with_prompt_none_is_login_required(client, member, make_client, moving_clock):
    rp, _ = make_client()
    _sign_in(client, member, rp)
    moving_clock.advance(120)
    request = AuthorizationRequest(rp.client_id, extra={"max_age": "60", "prompt": "none"})
    assert_error_redirect(client.get(request.url()), request, "login_required")


def test_auth_time_is_the_real_sign_in_time_not_the_token_time(client, member, make_client, moving_clock):
    rp, secret = make_client()
    _sign_in(client, member, rp)
    moving_clock.advance(300)
    request = AuthorizationRequest(rp.client_id)
    response = client.get(request.url())
    assert response.status_code == 302
    claims = _claims(client, request, secret, response.headers["Location"])
    assert 295 <= claims["iat"] - claims["auth_time"] <= 305


def test_access_token_auth_time_is_the_real_sign_in_time(client, member, make_client, moving_clock):
    rp, secret = make_client()
    _sign_in(client, member, rp)
    moving_clock.advance(300)
    request = AuthorizationRequest(rp.client_id)
    location = client.get(request.url()).headers["Location"]
    response = exchange_code(client, code_from(location, request), request, secret=secret)
    access = verify_token(response.json["access_token"], client.get("/jwks").json).claims
    assert 295 <= access["iat"] - access["auth_time"] <= 305


# --- The session cookie --------------------------------------------------------------------


def test_session_cookie_attributes_http_issuer(client, member, make_client):
    rp, _ = make_client()
    response = client.get(AuthorizationRequest(rp.client_id).url())
    cookies = set_cookies(response)
    # Anonymous: nothing stored yet, the signed light cookie carries the binding.
    assert set(cookies) == {"idp_light"}
    cookie = cookies["idp_light"]
    assert cookie.get("httponly") is True
    assert cookie.get("samesite", "").lower() == "lax"
    assert cookie.get("path") == "/"
    assert "domain" not in cookie
    assert "secure" not in cookie  # an http issuer (development) cannot use Secure cookies
    assert len(cookie["value"]) >= 32
    signed_in = Browser(client).login(response.headers["Location"], member.email, DEMO_PASSWORD)
    stored = set_cookies(signed_in)
    assert stored["idp_session"].get("httponly") is True and "secure" not in stored["idp_session"]
    assert stored["idp_light"]["value"] in ("", '""')  # moved into the stored session


@pytest.mark.settings(server={"issuer": HTTPS_ISSUER})
def test_session_cookie_attributes_https_issuer(client, member, make_client):
    rp, _ = make_client()
    response = client.get(AuthorizationRequest(rp.client_id).url(), base_url=HTTPS_ISSUER)
    assert response.status_code == 303
    cookies = set_cookies(response)
    assert set(cookies) == {"__Host-idp_light"}
    cookie = cookies["__Host-idp_light"]
    # The __Host- prefix demands Secure, Path=/ and no Domain (RFC 6265bis §4.1.3.2).
    assert cookie.get("secure") is True
    assert cookie.get("path") == "/"
    assert "domain" not in cookie
    assert cookie.get("httponly") is True
    assert cookie.get("samesite", "").lower() == "lax"


@pytest.mark.settings(server={"issuer": HTTPS_ISSUER})
def test_full_sign_in_over_https_without_referer(client, member, make_client):
    """Our pages send Referrer-Policy: no-referrer, so a browser posts the login form without
    a Referer header. Signing in over https must still work (the CSRF token protects it)."""
    rp, secret = make_client()
    request = AuthorizationRequest(rp.client_id)
    started = client.get(request.url(), base_url=HTTPS_ISSUER)
    uid = login_page_uid(started)
    page = client.get(f"/interaction/{uid}", base_url=HTTPS_ISSUER)
    assert page.status_code == 200
    logged_in = client.post(
        f"/interaction/{uid}/login",
        base_url=HTTPS_ISSUER,
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert logged_in.status_code == 303, (logged_in.status_code, logged_in.text[:300])
    assert set(set_cookies(logged_in)) == {"__Host-idp_session", "__Host-idp_light"}
    assert set_cookies(logged_in)["__Host-idp_light"]["value"] in ("", '""')  # deleted
    code = code_from(logged_in.headers["Location"], request, issuer=HTTPS_ISSUER)
    response = client.post(
        "/token",
        base_url=HTTPS_ISSUER,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.verifier,
        },
        auth=(rp.client_id, secret),
    )
    assert response.status_code == 200, response.text
    jwks = client.get("/jwks", base_url=HTTPS_ISSUER).json
    assert verify_token(response.json["id_token"], jwks).claims["iss"] == HTTPS_ISSUER


@pytest.mark.settings(server={"issuer": HTTPS_ISSUER})
def test_login_post_from_another_origin_is_refused_over_https(client, member, make_client):
    """A Referer from another site, when one is sent, still fails the CSRF check."""
    rp, _ = make_client()
    uid = login_page_uid(client.get(AuthorizationRequest(rp.client_id).url(), base_url=HTTPS_ISSUER))
    page = client.get(f"/interaction/{uid}", base_url=HTTPS_ISSUER)
    response = client.post(
        f"/interaction/{uid}/login",
        base_url=HTTPS_ISSUER,
        headers={"Referer": "https://attacker.example/"},
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 400
    assert "__Host-idp_session" not in set_cookies(response)


def test_session_id_rotates_at_login(app, client, member, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id)
    started = client.get(request.url())
    before = set_cookies(started)["idp_light"]["value"]
    browser = Browser(client)
    logged_in = browser.login(started.headers["Location"], member.email, DEMO_PASSWORD)
    assert logged_in.status_code == 303
    after = set_cookies(logged_in)["idp_session"]["value"]
    assert before != after
    code_from(browser.follow_to_client(logged_in), request)

    # The pre-login identifier is dead: a browser holding only it is not signed in.
    fixated = app.test_client()
    fixated.set_cookie("idp_light", before)
    probe = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert_error_redirect(fixated.get(probe.url()), probe, "login_required")
    # The new one is signed in.
    carried = app.test_client()
    carried.set_cookie("idp_session", after)
    assert carried.get(AuthorizationRequest(rp.client_id, extra={"prompt": "none"}).url()).status_code == 302


def test_forged_session_cookie_is_ignored(app, make_client):
    rp, _ = make_client()
    browser = app.test_client()
    browser.set_cookie("idp_session", "x" * 43)
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert_error_redirect(browser.get(request.url()), request, "login_required")


def test_session_idle_timeout_asks_to_log_in_again(client, member, make_client, moving_clock):
    rp, secret = make_client()
    _sign_in(client, member, rp)
    moving_clock.advance(1801)
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert_error_redirect(client.get(request.url()), request, "login_required")
    request = AuthorizationRequest(rp.client_id)
    response = client.get(request.url())
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert 'data-testid="login-form"' in page.text


def test_activity_keeps_the_session_alive(client, member, make_client, moving_clock):
    rp, _ = make_client()
    _sign_in(client, member, rp)
    for _ in range(3):
        moving_clock.advance(1200)
        request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
        assert client.get(request.url()).status_code == 302


@pytest.mark.settings(session={"absolute_timeout_seconds": 3000})
def test_session_absolute_timeout_ends_even_an_active_session(client, member, make_client, moving_clock):
    rp, _ = make_client()
    _sign_in(client, member, rp)
    moving_clock.advance(1500)
    assert client.get(AuthorizationRequest(rp.client_id, extra={"prompt": "none"}).url()).status_code == 302
    moving_clock.advance(1501)
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert_error_redirect(client.get(request.url()), request, "login_required")


# --- Re-authentication cannot be skipped ---------------------------------------------------


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}, {"max_age": "60"}])
def test_resume_before_the_required_login_gives_no_code(client, member, make_client, moving_clock, extra):
    """With a live session, the re-login asked for by prompt=login / max_age cannot be skipped
    by going straight to the resume URL."""
    rp, _ = make_client()
    _sign_in(client, member, rp)
    moving_clock.advance(120)
    response = client.get(AuthorizationRequest(rp.client_id, extra=extra).url())
    uid = login_page_uid(response)
    resumed = client.get(f"/authorize/resume/{uid}")
    assert resumed.status_code == 303
    assert resumed.headers["Location"] == f"/interaction/{uid}"
    page = client.get(resumed.headers["Location"])
    assert 'data-testid="login-form"' in page.text


def test_redirect_carrying_the_code_is_not_cacheable(client, member, make_client):
    rp, _ = make_client()
    request = AuthorizationRequest(rp.client_id)
    started = client.get(request.url())
    browser = Browser(client)
    response = browser.login(started.headers["Location"], member.email, DEMO_PASSWORD)
    while response.headers["Location"].startswith("/"):
        response = client.get(response.headers["Location"])
    assert response.status_code == 303  # answering the login form's POST
    code_from(response.headers["Location"], request)
    assert response.headers["Cache-Control"] == "no-store"
