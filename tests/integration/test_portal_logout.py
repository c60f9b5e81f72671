"""The issue's opening bug, end to end: at the demo portal (Authlib's Flask client) a member
signs in through a real idp over HTTP, presses "Sign out", presses "Sign in" again, and must
enter the password again. And when the idp session ends elsewhere (signed out at idp), idp's
back-channel logout reaches the portal, served on a real socket, which ends its own session."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import free_port, serve_in_thread
from tests.helpers.oidc import csrf_token
from tests.helpers.portal import portal_for, register_portal


@pytest.fixture
def live_portal(live_idp):
    app, issuer = live_idp
    port = free_port()
    portal_url = f"http://127.0.0.1:{port}"
    portal_app = portal_for(issuer, portal_url, register_portal(app, portal_url, logout=True))
    with serve_in_thread(portal_app, port):
        yield portal_url, issuer


def absolute(base: str, location: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}{location}" if location.startswith("/") else location


def hop(browser: requests.Session, url: str, **options) -> requests.Response:
    return browser.get(url, allow_redirects=False, timeout=10, **options)


def start_sign_in(browser, portal_url) -> tuple[str, requests.Response]:
    """Press "Sign in" at the portal: returns idp's answer to the authorization request."""
    start = hop(browser, f"{portal_url}/login")
    assert start.status_code == 302
    authorize_url = start.headers["Location"]
    return authorize_url, hop(browser, authorize_url)


def sign_in(browser, portal_url, identifier: str) -> None:
    authorize_url, answer = start_sign_in(browser, portal_url)
    assert answer.status_code == 303
    interaction = absolute(authorize_url, answer.headers["Location"])
    page = browser.get(interaction, timeout=10)
    assert 'name="password"' in page.text
    answer = browser.post(
        interaction + "/login",
        data={"csrf_token": csrf_token(page.text), "identifier": identifier, "password": DEMO_PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    page = browser.get(absolute(authorize_url, answer.headers["Location"]), timeout=10)
    answer = browser.post(
        interaction + "/consent",
        data={"csrf_token": csrf_token(page.text), "allow": "Allow"},
        allow_redirects=False,
        timeout=10,
    )
    # The consent step answers the authorization request itself.
    assert answer.status_code == 303 and answer.headers["Location"].startswith(f"{portal_url}/callback?")
    finished = hop(browser, answer.headers["Location"])
    assert finished.status_code == 302, finished.text[:300]


def portal_csrf(browser, portal_url) -> str:
    home = browser.get(f"{portal_url}/", timeout=10)
    assert "Sign out" in home.text, home.text[:300]
    return re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)


def test_sign_out_at_the_portal_signs_out_of_idp(live_portal, make_member):
    portal_url, issuer = live_portal
    member = make_member(full_name="Siti Rahayu", email="siti@example.test")
    browser = requests.Session()
    sign_in(browser, portal_url, member.email)
    assert "Siti Rahayu" in browser.get(f"{portal_url}/", timeout=10).text

    answer = browser.post(
        f"{portal_url}/logout", data={"csrf_token": portal_csrf(browser, portal_url)}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 303
    end_session = answer.headers["Location"]
    assert end_session.startswith(f"{issuer}/logout?") and "id_token_hint=" in end_session
    back = hop(browser, end_session)
    assert back.status_code == 303 and back.headers["Location"].startswith(f"{portal_url}/signed-out?state=")
    signed_out = hop(browser, back.headers["Location"])
    assert signed_out.status_code == 200 and 'data-testid="portal-signed-out"' in signed_out.text

    # "Sign in" again: idp asks for the password, it does not hand the account over.
    _, answer = start_sign_in(browser, portal_url)
    assert answer.status_code == 303 and "/interaction/" in answer.headers["Location"]
    page = browser.get(absolute(issuer, answer.headers["Location"]), timeout=10)
    assert 'name="password"' in page.text


def test_the_portal_allows_idp_in_form_action(live_portal):
    portal_url, issuer = live_portal
    csp = requests.get(f"{portal_url}/", timeout=10).headers["Content-Security-Policy"]
    assert f"form-action 'self' {issuer}" in csp


def test_signing_out_at_idp_ends_the_portal_session_by_back_channel(live_portal, make_member):
    portal_url, issuer = live_portal
    member = make_member(full_name="Budi Santoso", email="budi@example.test")
    browser = requests.Session()
    sign_in(browser, portal_url, member.email)
    assert "Budi Santoso" in browser.get(f"{portal_url}/", timeout=10).text

    # Sign out at idp's own account page (not through the portal).
    account = browser.get(f"{issuer}/account/", timeout=10)
    answer = browser.post(
        f"{issuer}/account/logout",
        data={"csrf_token": csrf_token(account.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        home = browser.get(f"{portal_url}/", timeout=10)
        if "Budi Santoso" not in home.text:
            break
        time.sleep(0.2)
    assert "Budi Santoso" not in home.text and "Sign in" in home.text


def test_the_portal_refuses_a_forged_logout_token(live_portal):
    portal_url, _ = live_portal
    answer = requests.post(f"{portal_url}/backchannel-logout", data={"logout_token": "a.b.c"}, timeout=10)
    assert answer.status_code == 400
