"""The demo benefits portal (Authlib's Flask client, an independent RP library) signs a member
in against a real idp served over HTTP, then reads balances with the access token it got."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from idp.db import get_session
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import csrf_token
from tests.helpers.portal import portal_for, register_portal

PORTAL_BASE_URL = "http://127.0.0.1:5001"


@pytest.fixture
def portal(live_idp, make_member):
    app, issuer = live_idp
    portal_app = portal_for(issuer, PORTAL_BASE_URL, register_portal(app, PORTAL_BASE_URL))
    return portal_app.test_client(), issuer


def _sign_in_at_idp(authorize_url: str, identifier: str, password: str) -> str:
    """The member's browser at idp: login page, consent page, back to the portal."""
    browser = requests.Session()
    response = browser.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 303, response.text[:300]
    interaction = response.headers["Location"]
    page = browser.get(_absolute(authorize_url, interaction), timeout=10)
    response = browser.post(
        _absolute(authorize_url, interaction + "/login"),
        data={"csrf_token": csrf_token(page.text), "identifier": identifier, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303, response.text[:300]
    page = browser.get(_absolute(authorize_url, response.headers["Location"]), timeout=10)
    assert 'data-testid="consent-form"' in page.text
    response = browser.post(
        _absolute(authorize_url, interaction + "/consent"),
        data={"csrf_token": csrf_token(page.text), "allow": "Allow"},
        allow_redirects=False,
        timeout=10,
    )
    # The consent step answers the authorization request itself.
    assert response.status_code == 303, response.text[:300]
    return response.headers["Location"]


def _absolute(base: str, path: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}{path}" if path.startswith("/") else path


def test_member_signs_in_to_the_portal_and_sees_balances(portal, make_member):
    portal_client, issuer = portal
    member = make_member(full_name="Siti Rahayu", email="siti@example.test")

    start = portal_client.get("/login")
    assert start.status_code == 302
    authorize_url = start.headers["Location"]
    assert authorize_url.startswith(f"{issuer}/authorize?")

    callback = _sign_in_at_idp(authorize_url, "siti@example.test", DEMO_PASSWORD)
    assert callback.startswith(f"{PORTAL_BASE_URL}/callback?")
    parts = urlsplit(callback)

    finished = portal_client.get(f"{parts.path}?{parts.query}")
    assert finished.status_code == 302, finished.text[:500]
    home = portal_client.get("/")
    assert "Siti Rahayu" in home.text
    assert member.membership_number in home.text

    balances = portal_client.get("/balances")
    assert balances.status_code == 200
    assert "JHT" in balances.text and "JP" in balances.text


def test_portal_refuses_a_callback_whose_code_was_tampered_with(portal, make_member):
    portal_client, _ = portal
    make_member(email="budi@example.test")
    authorize_url = portal_client.get("/login").headers["Location"]
    callback = _sign_in_at_idp(authorize_url, "budi@example.test", DEMO_PASSWORD)
    parts = urlsplit(callback)
    tampered = parts.query.replace("code=", "code=x")

    refused = portal_client.get(f"{parts.path}?{tampered}")

    assert refused.status_code == 400
    assert "Sign-in failed" in refused.text


def test_the_portal_refreshes_an_expired_access_token_until_idp_revokes_it(portal, live_idp, make_member):
    portal_client, _ = portal
    member = make_member(email="rina@example.test")
    authorize_url = portal_client.get("/login").headers["Location"]
    parts = urlsplit(_sign_in_at_idp(authorize_url, "rina@example.test", DEMO_PASSWORD))
    assert portal_client.get(f"{parts.path}?{parts.query}").status_code == 302
    with portal_client.session_transaction() as stored:
        first_access_token = stored["access_token"]
        assert "refresh_token" not in stored  # kept on the portal's server, not in the cookie
        stored["access_token_expires_at"] = 0  # as if its lifetime had passed

    balances = portal_client.get("/balances")

    assert balances.status_code == 200 and "JHT" in balances.text
    with portal_client.session_transaction() as stored:
        assert stored["access_token"] != first_access_token
        stored["access_token_expires_at"] = 0

    # idp revokes the member's refresh tokens (a password change, say): the portal's session ends.
    from idp.services.refresh_tokens import revoke_for_member

    app, _ = live_idp
    with app.app_context():
        db = get_session()
        revoke_for_member(db, member.id)
        db.commit()
    assert portal_client.get("/balances").status_code == 302
