"""A member signs in to the demo benefits portal in a real browser (Chromium via Playwright):
portal → hosted login → consent → back to the portal → balances. This is where CSP, cookies
(SameSite), redirects after form posts and the pages' markup meet a real user agent."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import sync_playwright

from examples.benefits_portal.app import create_app as create_portal
from idp import create_app
from idp.db import get_engine, get_session
from idp.services.clients import NewClient, create_client
from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import free_port, serve_in_thread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def live_sites(app_config, make_member):
    """idp and the portal, each on its own port of 127.0.0.1; the member and client seeded."""
    idp_port, portal_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    portal_url = f"http://127.0.0.1:{portal_port}"
    idp_app = create_app(
        {**app_config, "server": {**app_config["server"], "issuer": issuer}, "logging": {"level": "WARNING"}}
    )
    with idp_app.app_context():
        db = get_session()
        _, secret = create_client(
            db,
            NewClient(
                name="Benefits Portal",
                redirect_uris=[f"{portal_url}/callback"],
                scopes=["openid", "profile", "email", "membership", "benefits:read"],
                client_id="benefits-portal",
            ),
        )
        db.commit()
    member = make_member(full_name="Siti Rahayu", email="siti@example.test")
    portal_app = create_portal(
        {
            "IDP_ISSUER": issuer,
            "PORTAL_CLIENT_ID": "benefits-portal",
            "PORTAL_CLIENT_SECRET": secret,
            "PORTAL_BASE_URL": portal_url,
            "PORTAL_ENV_FILE": "/nonexistent",
        }
    )
    try:
        with serve_in_thread(idp_app, idp_port), serve_in_thread(portal_app, portal_port):
            yield portal_url, member
    finally:
        get_engine(idp_app).dispose()


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_sign_in_consent_and_balances_in_chromium(live_sites, browser):
    portal_url, member = live_sites
    page = browser.new_page(locale="id-ID")
    page.goto(portal_url)
    page.get_by_role("link", name="Sign in").click()

    page.wait_for_selector("[data-testid=login-form]")
    assert page.get_attribute("html", "lang") == "id"
    page.fill("#identifier", member.membership_number)
    page.fill("#password", "a wrong password")
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=login_failed]")

    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=consent-form]")
    page.click("[data-testid=consent-allow]")

    page.wait_for_url(f"{portal_url}/")
    assert "Siti Rahayu" in page.content()
    page.goto(f"{portal_url}/balances")
    assert "JHT" in page.content() and "Rp" in page.content()


def test_pages_raise_no_csp_violations(live_sites, browser):
    portal_url, _ = live_sites
    page = browser.new_page(locale="en-US")
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(portal_url)
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_selector("[data-testid=login-form]")
    page.wait_for_load_state("load")  # the stylesheet and script, not only the markup
    assert page.get_attribute("html", "lang") == "en"
    # The stylesheet loaded under our CSP: the login card is styled, not a bare form.
    assert page.eval_on_selector(".card", "element => getComputedStyle(element).borderRadius") == "8px"
    assert not [text for text in problems if "Content Security Policy" in text], problems


def test_password_can_be_shown_and_pasted(live_sites, browser):
    portal_url, _ = live_sites
    page = browser.new_page(locale="en-US")
    page.goto(portal_url)
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_selector("[data-testid=login-form]")
    page.fill("#password", "pasted passphrase")
    assert page.get_attribute("#password", "type") == "password"
    page.click("button.reveal")
    assert page.get_attribute("#password", "type") == "text"
    assert page.input_value("#password") == "pasted passphrase"
    assert page.get_attribute("#password", "autocomplete") == "current-password"
    page.click("button.reveal")
    assert page.get_attribute("#password", "type") == "password"
