"""Logout and the form_post response mode in a real browser (Chromium via Playwright): the
portal's "Sign out" goes through idp's end_session_endpoint and back (a form whose answer
redirects to another origin: the portal's CSP form-action must allow it), signing in again
asks for the password, the confirmation and "signed out" pages pass the page checks in both
languages, and a form_post response is posted to the client with and without script."""

from __future__ import annotations

import threading
from urllib.parse import urlencode

import pytest
from flask import Flask, request

from idp.db import get_session
from idp.services.clients import NewClient, create_client
from tests.browser.conftest import sign_in_from_portal
from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import free_port, serve_in_thread
from tests.helpers.oidc import AuthorizationRequest


@pytest.mark.parametrize("language", ["id", "en"])
def test_portal_sign_out_signs_out_of_idp(live_sites, make_member, open_page, page_checks, shots, language):
    member = make_member(full_name="Siti Rahayu", email="siti@example.test", locale=language)
    page = open_page(language)
    sign_in_from_portal(page, live_sites, member.email, DEMO_PASSWORD)
    page.click("[data-testid=consent-allow]")
    page.wait_for_url(f"{live_sites.portal_url}/")
    assert "Siti Rahayu" in page.content()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("[data-testid=portal-signed-out]")
    assert page.url.startswith(f"{live_sites.portal_url}/signed-out")
    assert page.evaluate("window.__cspViolations") == []
    shots(page, f"portal-signed-out-{language}")

    # Sign in again: the password is asked for, the account is not handed to the next person.
    page.get_by_role("link", name="Sign in again").click()
    page.wait_for_selector("[data-testid=login-form]")
    assert page.locator("#password").count() == 1


@pytest.mark.parametrize("language", ["id", "en"])
def test_logout_confirmation_and_signed_out_pages(live_sites, make_member, open_page, page_checks, shots, language):
    member = make_member(email="budi@example.test", locale=language)
    page = open_page(language)
    sign_in_from_portal(page, live_sites, member.email, DEMO_PASSWORD)
    page.click("[data-testid=consent-allow]")
    page.wait_for_url(f"{live_sites.portal_url}/")

    page.goto(f"{live_sites.idp_url}/logout?" + urlencode({"client_id": "benefits-portal", "ui_locales": language}))
    page.wait_for_selector("[data-testid=logout-confirm-form]")
    assert page.get_attribute("html", "lang") == language
    assert "Benefits Portal" in page.inner_text("[data-testid=logout-confirm-client]")
    page_checks.check(page, "logout confirmation")
    shots(page, f"logout-confirm-{language}")
    page.click("[data-testid=logout-confirm]")
    page.wait_for_selector("[data-testid=signed-out]")
    page_checks.check(page, "signed out")
    shots(page, f"signed-out-{language}")
    page.click("[data-testid=sign-in-again]")
    page.wait_for_selector("[data-testid=login-form]")
    page_checks.assert_clean(expected_pages=2)


@pytest.fixture
def form_post_client(live_sites):
    """A client whose redirect URI accepts the form_post answer on a real socket."""
    received: list[dict] = []
    lock = threading.Lock()
    receiver = Flask("form_post_receiver")

    @receiver.post("/cb")
    def callback():
        with lock:
            received.append(request.form.to_dict())
        return "<!doctype html><html lang=en><title>received</title><p id=received>received</p></html>"

    port = free_port()
    redirect_uri = f"http://127.0.0.1:{port}/cb"
    with live_sites.idp_app.app_context():
        db = get_session()
        registered, _ = create_client(
            db, NewClient(name="Form Post RP", redirect_uris=[redirect_uri], public=True, first_party=True)
        )
        db.commit()
        client_id = registered.client_id
    with serve_in_thread(receiver, port):
        yield client_id, redirect_uri, received


@pytest.mark.parametrize("script", [True, False])
def test_form_post_reaches_the_client(live_sites, make_member, open_page, form_post_client, script):
    member = make_member(email="rina@example.test", locale="en")
    client_id, redirect_uri, received = form_post_client
    authorization = AuthorizationRequest(client_id, redirect_uri=redirect_uri, extra={"response_mode": "form_post"})
    page = open_page("en", java_script_enabled=script)
    page.goto(live_sites.idp_url + authorization.url())
    page.wait_for_selector("[data-testid=login-form]")
    page.fill("#identifier", member.email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    if not script:
        # Without script the member sees the page and presses its button. (axe-core needs
        # script, so the page checks cannot run here.)
        page.wait_for_selector("[data-testid=form-post]")
        assert page.is_visible("[data-testid=form-post-continue]")
        page.click("[data-testid=form-post-continue]")
    page.wait_for_selector("#received")
    assert page.url == redirect_uri
    (answer,) = received
    assert answer["state"] == authorization.state and answer["iss"] == live_sites.idp_url and answer["code"]
    if script:
        assert page.evaluate("window.__cspViolations") == []
