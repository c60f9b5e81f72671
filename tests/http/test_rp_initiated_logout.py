"""RP-Initiated Logout 1.0 at the end_session_endpoint: with and without id_token_hint, the
registered post_logout_redirect_uri (exact) and state, confirmation with CSRF, ui_locales,
hints that are not ours; and that after logout a sign-in needs the password again."""

from __future__ import annotations

import re
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    ISSUER,
    AuthorizationRequest,
    Browser,
    code_from,
    csrf_token,
    exchange_code,
    query_of,
)

POST_LOGOUT = "https://rp.example.test/signed-out"


@pytest.fixture
def member(make_member):
    return make_member(locale="en")


@pytest.fixture
def logout_rp(make_client):
    registered, secret = make_client(name="Klaim Online", post_logout_redirect_uris=[POST_LOGOUT])
    return registered, secret


def sign_in(client, member, rp_client, secret=None, **extra) -> dict:
    """Sign in at the client through the hosted pages and redeem the code: the token response."""
    request = AuthorizationRequest(rp_client.client_id, extra=extra)
    started = client.get(request.url())
    if started.status_code == 303 and started.headers["Location"].startswith("/interaction/"):
        browser = Browser(client)
        location = browser.follow_to_client(browser.login(started.headers["Location"], member.email, DEMO_PASSWORD))
    else:
        location = started.headers["Location"]
    tokens = exchange_code(client, code_from(location, request), request, secret=secret)
    assert tokens.status_code == 200, tokens.text
    return tokens.json


def needs_password(client, rp_client) -> bool:
    """Whether a new authorization request at the client asks for the password (not SSO)."""
    request = AuthorizationRequest(rp_client.client_id)
    answer = client.get(request.url())
    assert answer.status_code in (302, 303), answer.status_code
    location = answer.headers["Location"]
    if location.startswith("/interaction/"):
        page = client.get(location)
        return 'name="password"' in page.text
    assert "code=" in location, location
    return False


def userinfo_status(client, access_token: str) -> int:
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_discovery_advertises_logout(client):
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["end_session_endpoint"] == f"{ISSUER}/logout"
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True
    assert metadata["frontchannel_logout_supported"] is False


def test_logout_with_a_hint_ends_the_session_and_returns_with_state(client, member, logout_rp):
    rp_client, secret = logout_rp
    tokens = sign_in(client, member, rp_client, secret)
    assert not needs_password(client, rp_client)  # SSO works before

    answer = client.get(
        "/logout",
        query_string={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT, "state": "s-1"},
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{POST_LOGOUT}?state=s-1"
    assert answer.headers["Cache-Control"] == "no-store"
    # The issue's opening bug: signing in again after signing out needs the password.
    assert needs_password(client, rp_client)
    # The session's access token is revoked at once.
    assert userinfo_status(client, tokens["access_token"]) == 401


def test_logout_by_form_post_from_the_relying_party(client, member, logout_rp):
    rp_client, secret = logout_rp
    tokens = sign_in(client, member, rp_client, secret)
    answer = client.post(
        "/logout",
        data={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": POST_LOGOUT},
        headers={"Origin": "https://rp.example.test"},
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == POST_LOGOUT
    assert needs_password(client, rp_client)


def test_an_expired_hint_still_counts(client, member, logout_rp, moving_clock):
    rp_client, secret = logout_rp
    tokens = sign_in(client, member, rp_client, secret)
    moving_clock.advance(900)  # the ID token (600 s) has expired; the session (idle 1800 s) has not
    answer = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert answer.status_code == 200
    assert 'data-testid="signed-out"' in answer.text
    assert needs_password(client, rp_client)


def test_without_a_hint_the_member_confirms(client, member, logout_rp):
    rp_client, secret = logout_rp
    tokens = sign_in(client, member, rp_client, secret)
    asked = client.get(
        "/logout",
        query_string={"client_id": rp_client.client_id, "post_logout_redirect_uri": POST_LOGOUT, "state": "s-2"},
    )
    assert asked.status_code == 200
    assert 'data-testid="logout-confirm-form"' in asked.text
    assert "Klaim Online" in asked.text
    # Nothing has ended yet: the link alone signs nobody out.
    assert userinfo_status(client, tokens["access_token"]) == 200

    # A post without the page's CSRF token (another site's form) ends nothing.
    forged = client.post("/logout/confirm", data={"sign_out": "Sign out"})
    assert forged.status_code == 400 and "Location" not in forged.headers
    assert userinfo_status(client, tokens["access_token"]) == 200

    asked = client.get(
        "/logout",
        query_string={"client_id": rp_client.client_id, "post_logout_redirect_uri": POST_LOGOUT, "state": "s-2"},
    )
    confirmed = client.post("/logout/confirm", data={"csrf_token": csrf_token(asked.text), "sign_out": "Sign out"})
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"] == f"{POST_LOGOUT}?state=s-2"
    assert userinfo_status(client, tokens["access_token"]) == 401
    assert needs_password(client, rp_client)


def test_the_member_may_stay_signed_in(client, member, logout_rp):
    rp_client, secret = logout_rp
    tokens = sign_in(client, member, rp_client, secret)
    asked = client.get("/logout", query_string={"client_id": rp_client.client_id})
    stayed = client.post("/logout/confirm", data={"csrf_token": csrf_token(asked.text), "stay": "Stay signed in"})
    assert stayed.status_code == 303 and stayed.headers["Location"].endswith("/account/")
    assert userinfo_status(client, tokens["access_token"]) == 200
    assert not needs_password(client, rp_client)


def test_a_hint_for_another_member_is_confirmed(client, member, make_member, logout_rp, app):
    rp_client, secret = logout_rp
    other = make_member()
    other_browser = app.test_client()
    other_tokens = sign_in(other_browser, other, rp_client, secret)
    sign_in(client, member, rp_client, secret)
    asked = client.get("/logout", query_string={"id_token_hint": other_tokens["id_token"]})
    assert asked.status_code == 200 and 'data-testid="logout-confirm-form"' in asked.text
    assert not needs_password(client, rp_client)


def test_an_unregistered_post_logout_uri_is_not_followed(client, member, logout_rp):
    rp_client, secret = logout_rp
    tokens = sign_in(client, member, rp_client, secret)
    answer = client.get(
        "/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": POST_LOGOUT + "/other",
            "state": "s-3",
        },
    )
    # Signed out all the same, but kept on idp's page, with a way to sign in again.
    assert answer.status_code == 200
    assert "Location" not in answer.headers
    assert 'data-testid="signed-out"' in answer.text and 'data-testid="sign-in-again"' in answer.text
    # The state goes nowhere: no link to the unregistered URI, and no link carries it away
    # from idp (the language switch keeps it, on idp's own /logout).
    for href in re.findall(r'href="([^"]+)"', answer.text):
        if "s-3" in href:
            assert href.startswith("/logout?"), href
    assert needs_password(client, rp_client)


def test_a_post_logout_uri_of_another_client_is_not_followed(client, member, logout_rp, make_client):
    rp_client, secret = logout_rp
    other, _ = make_client(name="Other", post_logout_redirect_uris=["https://other.example.test/bye"])
    tokens = sign_in(client, member, rp_client, secret)
    answer = client.get(
        "/logout",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://other.example.test/bye",
        },
    )
    assert answer.status_code == 200 and 'data-testid="signed-out"' in answer.text


def test_without_a_client_no_redirect(client, member, logout_rp):
    rp_client, secret = logout_rp
    sign_in(client, member, rp_client, secret)
    asked = client.get("/logout", query_string={"post_logout_redirect_uri": POST_LOGOUT})
    confirmed = client.post("/logout/confirm", data={"csrf_token": csrf_token(asked.text), "sign_out": "Sign out"})
    assert confirmed.status_code == 200 and 'data-testid="signed-out"' in confirmed.text
    assert needs_password(client, rp_client)


def test_not_signed_in_goes_straight_back(client, logout_rp):
    rp_client, _ = logout_rp
    answer = client.get(
        "/logout",
        query_string={"client_id": rp_client.client_id, "post_logout_redirect_uri": POST_LOGOUT, "state": "x"},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == f"{POST_LOGOUT}?state=x"


def _foreign_token(claims: dict, header: dict | None = None) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": "foreign"})
    return jwt.encode(header or {"alg": "RS256", "kid": "foreign"}, claims, key)


def _unsigned(claims: dict) -> str:
    import base64
    import json

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize("kind", ["foreign_key", "alg_none", "foreign_issuer", "access_token", "garbage"])
def test_a_hint_that_is_not_ours_is_refused(client, member, logout_rp, kind, app):
    rp_client, secret = logout_rp
    tokens = sign_in(client, member, rp_client, secret)
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": member.subject, "aud": rp_client.client_id, "iat": now, "exp": now + 600}
    if kind == "foreign_key":
        hint = _foreign_token(claims)
    elif kind == "alg_none":
        hint = _unsigned(claims)
    elif kind == "foreign_issuer":
        # Signed with idp's own key, but naming another issuer: built with idp's key store.
        from idp.db import get_session
        from idp.runtime import runtime
        from idp.security.jose import sign_jwt_with
        from idp.services import keys

        with app.app_context():
            signer = keys.signer(get_session(), runtime().secrets.signing_keys, "RS256")
            hint = sign_jwt_with(signer.key, signer.kid, signer.alg, {**claims, "iss": "https://evil.example.test"})
    elif kind == "access_token":
        hint = tokens["access_token"]
    else:
        hint = "not-a-jwt"
    answer = client.get("/logout", query_string={"id_token_hint": hint, "post_logout_redirect_uri": POST_LOGOUT})
    assert answer.status_code == 400
    assert 'data-testid="logout-error" data-error="invalid_request"' in answer.text
    assert "Location" not in answer.headers
    assert userinfo_status(client, tokens["access_token"]) == 200


def test_client_id_must_match_the_hint(client, member, logout_rp, make_client):
    rp_client, secret = logout_rp
    other, _ = make_client(name="Other")
    tokens = sign_in(client, member, rp_client, secret)
    answer = client.get("/logout", query_string={"id_token_hint": tokens["id_token"], "client_id": other.client_id})
    assert answer.status_code == 400
    assert userinfo_status(client, tokens["access_token"]) == 200


def test_repeated_parameters_are_refused(client, logout_rp):
    rp_client, _ = logout_rp
    answer = client.get(
        f"/logout?client_id={rp_client.client_id}&post_logout_redirect_uri={POST_LOGOUT}"
        f"&post_logout_redirect_uri={POST_LOGOUT}"
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers


def test_ui_locales_chooses_the_page_language(client, make_member, logout_rp):
    member = make_member(locale="id")
    rp_client, secret = logout_rp
    sign_in(client, member, rp_client, secret)
    asked = client.get("/logout", query_string={"client_id": rp_client.client_id, "ui_locales": "en"})
    assert "Sign out?" in asked.text
    confirmed = client.post("/logout/confirm", data={"csrf_token": csrf_token(asked.text), "sign_out": "Sign out"})
    assert "You are signed out" in confirmed.text
    indonesian = client.get("/logout", query_string={"ui_locales": "id"})
    assert "Anda sudah keluar" in indonesian.text


def test_sid_survives_a_new_sign_in_of_the_same_member(client, member, logout_rp, make_client):
    """prompt=login rotates the cookie, not the public sid: relying parties keep knowing the
    session, so logout reaches every one."""
    rp_client, secret = logout_rp
    first = sign_in(client, member, rp_client, secret)
    second = sign_in(client, member, rp_client, secret, prompt="login")
    first_sid = jwt.decode(first["id_token"], _jwks(client)).claims["sid"]
    second_sid = jwt.decode(second["id_token"], _jwks(client)).claims["sid"]
    assert first_sid == second_sid
    client.get("/logout", query_string={"id_token_hint": first["id_token"]})
    assert userinfo_status(client, first["access_token"]) == 401
    assert userinfo_status(client, second["access_token"]) == 401


def _jwks(client):
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(client.get("/jwks").json)


def test_signing_out_of_idp_revokes_the_session_tokens_only(client, app, member, logout_rp):
    rp_client, secret = logout_rp
    here = sign_in(client, member, rp_client, secret)
    elsewhere_browser = app.test_client()
    elsewhere = sign_in(elsewhere_browser, member, rp_client, secret)
    client.get("/logout", query_string={"id_token_hint": here["id_token"]})
    assert userinfo_status(client, here["access_token"]) == 401
    assert userinfo_status(client, elsewhere["access_token"]) == 200
    assert not needs_password(elsewhere_browser, rp_client)


def test_a_cross_site_post_without_the_cookie_is_replayed_as_a_get(app, member, logout_rp):
    """A browser sends no SameSite=Lax cookie with another site's form POST; as a top-level
    GET the same request carries it."""
    rp_client, secret = logout_rp
    anonymous = app.test_client()
    answer = anonymous.post("/logout", data={"client_id": rp_client.client_id, "post_logout_redirect_uri": POST_LOGOUT})
    assert answer.status_code == 303
    location = answer.headers["Location"]
    assert location.startswith("/logout?")
    assert query_of(location) == {"client_id": rp_client.client_id, "post_logout_redirect_uri": POST_LOGOUT}
    final = anonymous.get(location)
    assert final.status_code == 303 and final.headers["Location"] == POST_LOGOUT
