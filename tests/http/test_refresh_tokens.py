"""Refresh tokens (RFC 6749 §6, RFC 9700 §4.14, OpenID Connect Core §11, §12): when they are
issued, rotation, reuse detection, lifetimes, scope, the refreshed ID token, and everything
that revokes them. Tokens are read with joserfc against the published JWKS, not idp's code."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import RefreshToken
from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import sign_in_to_account, submit
from tests.helpers.oidc import (
    ISSUER,
    AuthorizationRequest,
    Browser,
    code_from,
    csrf_token,
    exchange_code,
    half_hash,
    path_of,
    verify_token,
)

SCOPE = "openid profile offline_access"
REDIRECT_URI = "https://rp.example.test/callback"


@pytest.fixture
def member(make_member):
    return make_member()


@pytest.fixture
def app_client(make_client):
    """A confidential first-party client allowed to refresh."""
    registered, secret = make_client(
        scopes=["openid", "profile", "email", "offline_access"],
        grant_types=["authorization_code", "refresh_token"],
    )
    return registered, secret


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def sign_in(client, member, registered, secret, scope=SCOPE, **extra) -> dict:
    request = AuthorizationRequest(registered.client_id, scope=scope, extra=extra)
    started = client.get(request.url())
    if started.status_code == 302:  # signed in already (SSO)
        location = started.headers["Location"]
    else:
        browser = Browser(client)
        location = browser.follow_to_client(browser.login(started.headers["Location"], member.email, DEMO_PASSWORD))
    response = exchange_code(client, code_from(location, request), request, secret=secret)
    assert response.status_code == 200, response.text
    return response.json


def refresh(client, registered, secret, token: str, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    if secret is None:
        return client.post("/token", data={**data, "client_id": registered.client_id})
    return client.post("/token", data=data, headers=basic(registered.client_id, secret))


def userinfo(client, access_token: str):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def assert_invalid_grant(response) -> None:
    assert response.status_code == 400, response.text
    assert response.json["error"] == "invalid_grant"
    assert response.headers["Cache-Control"] == "no-store"


# --- when a refresh token is issued --------------------------------------------------------------


def test_offline_access_gets_an_opaque_256_bit_refresh_token_stored_only_as_a_digest(app, client, member, app_client):
    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)

    token = tokens["refresh_token"]
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 32
    assert token.count(".") == 0  # opaque, not a JWT
    assert "offline_access" in tokens["scope"].split()
    with app.app_context():
        (record,) = get_session().scalars(select(RefreshToken)).all()
        stored = " ".join(str(value) for value in vars(record).values())
        assert token not in stored
        assert record.client_id == registered.client_id and record.member_id == member.id
        assert record.session_sid and record.scope == tokens["scope"]


def test_no_refresh_token_without_offline_access_or_the_grant(client, member, app_client, make_client):
    registered, secret = app_client
    assert "refresh_token" not in sign_in(client, member, registered, secret, scope="openid profile")

    no_grant, no_grant_secret = make_client(scopes=["openid", "offline_access"])
    tokens = sign_in(client, member, no_grant, no_grant_secret, scope="openid offline_access")
    assert "refresh_token" not in tokens
    assert "offline_access" not in tokens["scope"].split()


def test_a_registered_policy_issues_refresh_tokens_without_offline_access(client, member, make_client):
    registered, secret = make_client(
        scopes=["openid", "profile"],
        grant_types=["authorization_code", "refresh_token"],
        always_issue_refresh_token=True,
    )
    tokens = sign_in(client, member, registered, secret, scope="openid profile")
    assert tokens["refresh_token"]
    assert refresh(client, registered, secret, tokens["refresh_token"]).status_code == 200


def test_a_third_party_client_gets_offline_access_only_with_prompt_consent(app, member, make_client):
    registered, secret = make_client(
        first_party=False,
        scopes=["openid", "profile", "offline_access"],
        grant_types=["authorization_code", "refresh_token"],
    )
    # Without prompt=consent the scope is dropped (OpenID Connect Core §11), consent or not.
    first = sign_in(app.test_client(), member, registered, secret)
    assert "refresh_token" not in first and "offline_access" not in first["scope"].split()

    browser = app.test_client()
    request = AuthorizationRequest(registered.client_id, scope=SCOPE, extra={"prompt": "consent"})
    started = browser.get(request.url())
    consent_page = None
    response = Browser(browser).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    for _ in range(6):
        location = response.headers["Location"]
        if not location.startswith("/"):
            break
        page = browser.get(path_of(location))
        if 'data-testid="consent-form"' in page.text:
            consent_page = page
            uid = path_of(location).rsplit("/", 1)[-1]
            response = browser.post(
                f"/interaction/{uid}/consent", data={"csrf_token": csrf_token(page.text), "allow": "Allow"}
            )
        else:
            response = page
    assert consent_page is not None, "prompt=consent shows the consent page"
    tokens = exchange_code(browser, code_from(location, request), request, secret=secret).json
    assert tokens["refresh_token"] and "offline_access" in tokens["scope"].split()


# --- rotation and reuse ----------------------------------------------------------------------------


def test_each_use_rotates_and_a_reused_token_revokes_the_family_and_the_sessions_tokens(
    app, client, member, app_client
):
    registered, secret = app_client
    first = sign_in(client, member, registered, secret)

    second = refresh(client, registered, secret, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert second.headers["Cache-Control"] == "no-store"
    second = second.json
    assert second["refresh_token"] != first["refresh_token"]
    third = refresh(client, registered, secret, second["refresh_token"]).json
    assert userinfo(client, third["access_token"]).status_code == 200

    # The first token, rotated long ago, comes back: someone else has a copy.
    assert_invalid_grant(refresh(client, registered, secret, first["refresh_token"]))

    # The whole family is dead, the newest token included, and the session's access tokens too.
    assert_invalid_grant(refresh(client, registered, secret, third["refresh_token"]))
    for tokens in (first, second, third):
        assert userinfo(client, tokens["access_token"]).status_code == 401
    with app.app_context():
        from idp.services import audit

        assert "refresh_token_reused" in [event.event for event in audit.recent(get_session())]


def test_a_public_client_refreshes_with_its_client_id_and_rotation(client, member, make_client):
    registered, _ = make_client(
        public=True, scopes=["openid", "offline_access"], grant_types=["authorization_code", "refresh_token"]
    )
    first = sign_in(client, member, registered, None, scope="openid offline_access")
    second = refresh(client, registered, None, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert_invalid_grant(refresh(client, registered, None, first["refresh_token"]))


def test_a_refresh_token_works_only_for_its_own_client(client, member, app_client, make_client):
    registered, secret = app_client
    other, other_secret = make_client(
        scopes=["openid", "offline_access"], grant_types=["authorization_code", "refresh_token"]
    )
    tokens = sign_in(client, member, registered, secret)
    assert_invalid_grant(refresh(client, other, other_secret, tokens["refresh_token"]))
    # The attempt burnt nothing: its own client still refreshes.
    assert refresh(client, registered, secret, tokens["refresh_token"]).status_code == 200


def test_unknown_and_malformed_refresh_tokens_are_invalid_grant(client, app_client):
    registered, secret = app_client
    for value in ("nope", "x" * 300, "e30.e30.e30"):
        assert_invalid_grant(refresh(client, registered, secret, value))
    # A NUL is refused for the whole request before any grant looks at it (web/request_input.py).
    with_nul = refresh(client, registered, secret, "a\x00b")
    assert with_nul.status_code == 400 and with_nul.json["error"] == "invalid_request"


# --- scope ------------------------------------------------------------------------------------


def test_a_refresh_may_narrow_the_scope_but_never_widen_it(client, member, app_client):
    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)

    wider = refresh(client, registered, secret, tokens["refresh_token"], scope="openid profile email")
    assert wider.status_code == 400 and wider.json["error"] == "invalid_scope"

    # The refused request burnt nothing; a narrower scope is fine.
    narrower = refresh(client, registered, secret, tokens["refresh_token"], scope="openid")
    assert narrower.status_code == 200, narrower.text
    assert narrower.json["scope"] == "openid"
    jwks = client.get("/jwks").json
    assert verify_token(narrower.json["access_token"], jwks).claims["scope"] == "openid"
    # The next refresh token still carries everything granted.
    again = refresh(client, registered, secret, narrower.json["refresh_token"], scope="openid profile")
    assert again.status_code == 200 and set(again.json["scope"].split()) == {"openid", "profile"}


# --- the refreshed ID token ---------------------------------------------------------------------


def test_the_refreshed_id_token_keeps_the_original_sign_in(client, member, app_client, moving_clock):
    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)
    jwks = client.get("/jwks").json
    original = verify_token(tokens["id_token"], jwks).claims

    moving_clock.advance(120)
    refreshed = refresh(client, registered, secret, tokens["refresh_token"]).json
    claims = verify_token(refreshed["id_token"], jwks).claims

    assert claims["iss"] == ISSUER and claims["aud"] == registered.client_id
    assert claims["sub"] == original["sub"] == member.subject
    for name in ("auth_time", "acr", "amr", "sid"):
        assert claims[name] == original[name], name
    assert claims["iat"] >= original["iat"] + 120
    assert "nonce" not in claims
    assert claims["at_hash"] == half_hash(refreshed["access_token"])
    access = verify_token(refreshed["access_token"], jwks)
    assert access.header["typ"] == "at+jwt"
    assert access.claims["auth_time"] == original["auth_time"] and access.claims["acr"] == original["acr"]


# --- lifetimes ------------------------------------------------------------------------------


@pytest.mark.settings(tokens={"refresh_token_idle_seconds": 100, "refresh_token_absolute_seconds": 250})
def test_idle_and_absolute_lifetimes(client, member, app_client, moving_clock):
    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)

    moving_clock.advance(101)
    assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))

    tokens = sign_in(client, member, registered, secret)
    for _ in range(2):
        moving_clock.advance(90)
        response = refresh(client, registered, secret, tokens["refresh_token"])
        assert response.status_code == 200, response.text
        tokens = response.json
    # Used within the idle time each time, but the family ends 250 s after the sign-in.
    moving_clock.advance(80)
    assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))


# --- what revokes refresh tokens -----------------------------------------------------------------


def test_signing_out_of_the_browser_revokes_its_refresh_tokens(client, member, app_client):
    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)
    account = client.get("/account/")
    assert account.status_code == 200
    assert client.post("/account/logout", data={"csrf_token": csrf_token(account.text)}).status_code == 303

    assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))
    assert userinfo(client, tokens["access_token"]).status_code == 401


def test_ending_the_session_from_another_browser_revokes_its_refresh_tokens(app, client, member, app_client):
    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)
    laptop = app.test_client()
    sign_in_to_account(laptop, member)
    with app.app_context():
        sid = get_session().scalar(select(RefreshToken.session_sid))
    ended = submit(laptop, "/account/sessions", f"/account/sessions/{sid}/end", {})
    assert ended.status_code == 303
    assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))


def test_sign_out_everywhere_revokes_refresh_tokens(app, client, member, app_client):
    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)
    laptop = app.test_client()
    sign_in_to_account(laptop, member)
    assert submit(laptop, "/account/sessions", "/account/sessions/end-all", {}).status_code == 303
    assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))


def test_removing_the_connected_app_revokes_its_refresh_tokens(app, client, member, make_client):
    registered, secret = make_client(
        first_party=False,
        scopes=["openid", "offline_access"],
        grant_types=["authorization_code", "refresh_token"],
    )
    tokens = sign_in(client, member, registered, secret, scope="openid offline_access", prompt="consent")
    assert tokens["refresh_token"]
    removed = submit(client, "/account/apps", f"/account/apps/{registered.client_id}/revoke", {})
    assert removed.status_code == 303
    assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))


def test_a_password_change_revokes_refresh_tokens(app, client, member, app_client, outbox):
    registered, secret = app_client
    holder = app.test_client()
    tokens = sign_in(holder, member, registered, secret)
    sign_in_to_account(client, member)
    new = "a brand new long passphrase"
    changed = submit(
        client,
        "/account/profile/password",
        "/account/profile/password",
        {"current_password": DEMO_PASSWORD, "password": new, "confirm": new},
    )
    assert changed.status_code == 303
    assert_invalid_grant(refresh(holder, registered, secret, tokens["refresh_token"]))


def test_a_password_reset_revokes_refresh_tokens(app, client, member, app_client, outbox):
    import re

    registered, secret = app_client
    tokens = sign_in(app.test_client(), member, registered, secret)
    page = client.get("/recovery/forgot")
    client.post("/recovery/forgot", data={"csrf_token": csrf_token(page.text), "identifier": member.email})
    (link,) = [
        match.group(0)
        for mail in outbox()
        if (match := re.search(r"https?://[^/\s]+/recovery/reset/[A-Za-z0-9_\-]+", mail.text))
    ]
    new = "a brand new long passphrase"
    form = client.get(path_of(link))
    done = client.post(path_of(link), data={"csrf_token": csrf_token(form.text), "password": new, "confirm": new})
    assert done.status_code == 200 and 'data-testid="password_reset_done"' in done.text
    assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))


def test_revoke_for_member_is_there_for_disable(app, client, member, app_client):
    """`idp members disable` (another change) calls this function."""
    from idp.services.refresh_tokens import revoke_for_member

    registered, secret = app_client
    tokens = sign_in(client, member, registered, secret)
    with app.app_context():
        db = get_session()
        assert revoke_for_member(db, member.id) == 1
        db.commit()
    assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))


def test_a_reused_code_revokes_the_refresh_tokens_its_first_use_issued(client, member, app_client):
    registered, secret = app_client
    request = AuthorizationRequest(registered.client_id, scope=SCOPE)
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    code = code_from(location, request)
    first = exchange_code(client, code, request, secret=secret).json
    second = refresh(client, registered, secret, first["refresh_token"]).json

    replay = exchange_code(client, code, request, secret=secret)

    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    assert_invalid_grant(refresh(client, registered, secret, second["refresh_token"]))


def test_signing_out_after_a_new_sign_in_in_the_same_browser_still_finds_earlier_tokens(client, member, app_client):
    """A sign-in rotates the session cookie but not the session's public id (sid), so ending
    the session revokes what was issued in it before the rotation too."""
    registered, secret = app_client
    first = sign_in(client, member, registered, secret)
    request = AuthorizationRequest(registered.client_id, scope=SCOPE, extra={"prompt": "login"})
    started = client.get(request.url())
    browser = Browser(client)
    location = browser.follow_to_client(browser.login(started.headers["Location"], member.email, DEMO_PASSWORD))
    second = exchange_code(client, code_from(location, request), request, secret=secret).json
    jwks = client.get("/jwks").json
    assert verify_token(second["id_token"], jwks).claims["sid"] == verify_token(first["id_token"], jwks).claims["sid"]

    account = client.get("/account/")
    assert client.post("/account/logout", data={"csrf_token": csrf_token(account.text)}).status_code == 303

    for tokens in (first, second):
        assert_invalid_grant(refresh(client, registered, secret, tokens["refresh_token"]))
