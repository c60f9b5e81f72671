"""Where the member is signed in (and signing browsers out), and the apps they allowed."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent, Consent
from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import sign_in_to_account, submit
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    code_from,
    exchange_code,
    path_of,
)

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)


@pytest.fixture
def member(make_member):
    return make_member(locale="en")


def browser(app, user_agent: str):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def listed(client) -> list[dict]:
    page = client.get("/account/sessions")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    entries = []
    for match in re.finditer(
        r'<li data-testid="session" data-sid="([^"]+)"( data-current="true")?>(.*?)</li>', page.text, re.S
    ):
        body = match.group(3)
        entries.append(
            {
                "sid": match.group(1),
                "current": bool(match.group(2)),
                "browser": re.search(r'data-testid="session-browser">([^<]*)<', body).group(1),
                "text": body,
            }
        )
    return entries


def events(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [(e.event, e.outcome) for e in get_session().scalars(select(AuditEvent).order_by(AuditEvent.id))]


def token_for(app, member, rp, secret=None):
    """Sign in at the RP (consenting if asked) and exchange the code: (access token, browser)."""
    holder = app.test_client()
    request = AuthorizationRequest(rp.client_id)
    location = Browser(holder).sign_in(request, member.email, DEMO_PASSWORD)
    tokens = exchange_code(holder, code_from(location, request), request, secret=secret)
    assert tokens.status_code == 200, tokens.text
    return tokens.json["access_token"], holder


def userinfo(client, access_token: str):
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


# --- sessions ----------------------------------------------------------------------------------


def test_the_list_shows_each_browser_and_marks_this_one(app, member):
    laptop = browser(app, FIREFOX_WINDOWS)
    phone = browser(app, CHROME_ANDROID)
    sign_in_to_account(laptop, member.email, DEMO_PASSWORD)
    sign_in_to_account(phone, member.email, DEMO_PASSWORD)

    entries = listed(laptop)
    assert len(entries) == 2
    assert {entry["browser"] for entry in entries} == {"Firefox · Windows", "Chrome · Android"}
    (current,) = [entry for entry in entries if entry["current"]]
    assert current["browser"] == "Firefox · Windows"
    assert 'data-testid="session-current"' in current["text"]
    assert all("127.0.0.1" in entry["text"] and 'data-testid="session-last-seen"' in entry["text"] for entry in entries)
    # The public session id is not the cookie.
    assert laptop.get_cookie("idp_session").value not in {entry["sid"] for entry in entries}


def test_sessions_of_other_members_are_not_listed(app, member, make_member):
    other = make_member()
    mine = browser(app, FIREFOX_WINDOWS)
    sign_in_to_account(mine, member.email, DEMO_PASSWORD)
    sign_in_to_account(browser(app, CHROME_ANDROID), other.email, DEMO_PASSWORD)
    assert [entry["browser"] for entry in listed(mine)] == ["Firefox · Windows"]


def test_expired_sessions_are_not_listed(app, member, moving_clock):
    old = browser(app, CHROME_ANDROID)
    sign_in_to_account(old, member.email, DEMO_PASSWORD)
    moving_clock.advance(1700)
    mine = browser(app, FIREFOX_WINDOWS)
    sign_in_to_account(mine, member.email, DEMO_PASSWORD)
    moving_clock.advance(200)  # the first one is now idle past session.idle_timeout_seconds
    assert [entry["browser"] for entry in listed(mine)] == ["Firefox · Windows"]


def test_signing_out_one_other_browser(app, member):
    laptop = browser(app, FIREFOX_WINDOWS)
    phone = browser(app, CHROME_ANDROID)
    sign_in_to_account(laptop, member.email, DEMO_PASSWORD)
    sign_in_to_account(phone, member.email, DEMO_PASSWORD)
    (other,) = [entry for entry in listed(laptop) if not entry["current"]]

    ended = submit(laptop, "/account/sessions", f"/account/sessions/{other['sid']}/end", {})
    assert ended.status_code == 303 and ended.headers["Location"] == "/account/sessions"
    assert 'data-testid="session_ended"' in laptop.get("/account/sessions").text
    assert phone.get("/account/").status_code == 303  # signed out, on the server
    assert laptop.get("/account/").status_code == 200
    assert [entry["browser"] for entry in listed(laptop)] == ["Firefox · Windows"]
    assert ("session_ended", "success") in events(app)


def test_signing_out_this_browser_from_the_list(app, member):
    laptop = browser(app, FIREFOX_WINDOWS)
    sign_in_to_account(laptop, member.email, DEMO_PASSWORD)
    (mine,) = listed(laptop)
    ended = submit(laptop, "/account/sessions", f"/account/sessions/{mine['sid']}/end", {})
    assert ended.status_code == 303 and ended.headers["Location"] == "/"
    assert laptop.get("/account/").status_code == 303


def test_another_members_session_cannot_be_ended(app, member, make_member):
    other = make_member()
    theirs = browser(app, CHROME_ANDROID)
    sign_in_to_account(theirs, other.email, DEMO_PASSWORD)
    (their_session,) = listed(theirs)
    mine = browser(app, FIREFOX_WINDOWS)
    sign_in_to_account(mine, member.email, DEMO_PASSWORD)
    submit(mine, "/account/sessions", f"/account/sessions/{their_session['sid']}/end", {})
    assert theirs.get("/account/").status_code == 200
    assert ("session_ended", "not_found") in events(app)


def test_ending_a_session_needs_the_csrf_token(app, member):
    laptop = browser(app, FIREFOX_WINDOWS)
    phone = browser(app, CHROME_ANDROID)
    sign_in_to_account(laptop, member.email, DEMO_PASSWORD)
    sign_in_to_account(phone, member.email, DEMO_PASSWORD)
    (other,) = [entry for entry in listed(laptop) if not entry["current"]]
    assert laptop.post(f"/account/sessions/{other['sid']}/end").status_code == 400
    assert laptop.post("/account/sessions/end-all").status_code == 400
    assert phone.get("/account/").status_code == 200


def test_sign_out_everywhere_ends_every_session_and_revokes_tokens(app, member, make_client):
    rp, secret = make_client(first_party=True)
    access_token, holder = token_for(app, member, rp, secret)
    assert userinfo(holder, access_token).status_code == 200
    laptop = browser(app, FIREFOX_WINDOWS)
    phone = browser(app, CHROME_ANDROID)
    sign_in_to_account(laptop, member.email, DEMO_PASSWORD)
    sign_in_to_account(phone, member.email, DEMO_PASSWORD)

    done = submit(laptop, "/account/sessions", "/account/sessions/end-all", {})
    assert done.status_code == 303 and done.headers["Location"] == "/"
    for client in (laptop, phone, holder):
        assert client.get("/account/").status_code == 303
    assert userinfo(holder, access_token).status_code == 401
    assert ("sign_out_everywhere", "success") in events(app)
    # Signing in again works as before.
    sign_in_to_account(laptop, member.email, DEMO_PASSWORD)


# --- connected apps ----------------------------------------------------------------------------


def test_apps_list_and_revoke(app, member, make_client):
    rp, secret = make_client(first_party=False, name="Klaim Online")
    access_token, holder = token_for(app, member, rp, secret)
    assert userinfo(holder, access_token).status_code == 200

    account = browser(app, FIREFOX_WINDOWS)
    sign_in_to_account(account, member.email, DEMO_PASSWORD)
    page = account.get("/account/apps")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert f'data-client-id="{rp.client_id}"' in page.text
    assert 'data-testid="app-name">Klaim Online<' in page.text
    assert "openid" in page.text and "email" in page.text

    revoked = submit(account, "/account/apps", f"/account/apps/{rp.client_id}/revoke", {})
    assert revoked.status_code == 303 and revoked.headers["Location"] == "/account/apps"
    page = account.get("/account/apps")
    assert 'data-testid="app_revoked"' in page.text and 'data-testid="no-apps"' in page.text
    # The token that app held is refused at once ...
    assert userinfo(holder, access_token).status_code == 401
    # ... and the next authorization asks for consent again (the browser is still signed in).
    again = Browser(holder).start(AuthorizationRequest(rp.client_id))
    assert again.status_code == 303
    consent_page = holder.get(path_of(again.headers["Location"]))
    assert 'data-testid="consent-form"' in consent_page.text
    with app.app_context():
        assert get_session().scalar(select(Consent).where(Consent.member_id == member.id)) is None
    assert ("consent_revoked", "success") in events(app)


def test_revoking_burns_codes_not_yet_exchanged(app, member, make_client):
    rp, secret = make_client(first_party=False)
    token_for(app, member, rp, secret)  # consent given
    holder = app.test_client()
    request = AuthorizationRequest(rp.client_id)
    code = code_from(Browser(holder).sign_in(request, member.email, DEMO_PASSWORD), request)
    account = browser(app, FIREFOX_WINDOWS)
    sign_in_to_account(account, member.email, DEMO_PASSWORD)
    submit(account, "/account/apps", f"/account/apps/{rp.client_id}/revoke", {})
    late = exchange_code(holder, code, request, secret=secret)
    assert late.status_code == 400 and late.json["error"] == "invalid_grant"


def test_revoking_an_app_of_nobody_changes_nothing(app, member, make_member, make_client):
    rp, secret = make_client(first_party=False)
    other = make_member()
    access_token, holder = token_for(app, other, rp, secret)
    account = browser(app, FIREFOX_WINDOWS)
    sign_in_to_account(account, member.email, DEMO_PASSWORD)
    # (Its own apps page has no form to take the CSRF token from; the sessions page has.)
    answer = submit(account, "/account/sessions", f"/account/apps/{rp.client_id}/revoke", {})
    assert answer.status_code == 303
    assert 'data-testid="app_revoked"' not in account.get("/account/apps").text
    assert userinfo(holder, access_token).status_code == 200  # the other member's grant stands


def test_the_pages_need_a_sign_in(client):
    for path in ("/account/sessions", "/account/apps"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["Location"].startswith("/interaction/")
