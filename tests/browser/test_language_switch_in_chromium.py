"""Switching the language in the middle of a sign-in, in Chromium: from the portal to the
hosted login in Indonesian (the browser asks for it), the switch to English (the same
interaction), a failed login, the consent page and the account pages after it all stay in
English, though the member's stored language is Indonesian. Every page is checked (axe-core,
layout at 360 and 1280 px)."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.browser.conftest import allow_and_return
from tests.conftest import DEMO_PASSWORD


def test_switching_language_mid_flow(live_sites, make_member, open_page, page_checks, shots):
    member = make_member(full_name="Dewi Lestari", locale="id")
    page = open_page("id")
    page.goto(live_sites.portal_url)
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_selector("[data-testid=login-form]")
    assert page.get_attribute("html", "lang") == "id"
    login_path = urlsplit(page.url).path
    assert page.inner_text("[data-testid=language-current]") == "Bahasa Indonesia"
    page_checks.check(page, "login, before switching")

    page.click("[data-testid=language-en]")
    page.wait_for_selector("html[lang=en] [data-testid=login-form]")
    # The same interaction of the same authorization request, its URL clean again.
    assert urlsplit(page.url).path == login_path and not urlsplit(page.url).query
    assert page.inner_text("h1") == "Sign in"
    assert page.inner_text("[data-testid=language-current]") == "English"
    page_checks.check(page, "login, switched to English")
    shots(page, "language-switched-login-en")

    page.fill("#identifier", member.email)
    page.fill("#password", "not the password")
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=login_failed]")
    assert page.get_attribute("html", "lang") == "en"
    page_checks.check(page, "login failed, in English")

    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=consent-form]")
    # Signing in did not bring back the member's stored Indonesian.
    assert page.get_attribute("html", "lang") == "en"
    page_checks.check(page, "consent, in English")
    shots(page, "language-switched-consent-en")
    allow_and_return(page, live_sites)
    assert "Dewi Lestari" in page.content()

    page.goto(f"{live_sites.idp_url}/account/")
    page.wait_for_selector("[data-testid=account-summary]")
    assert page.get_attribute("html", "lang") == "en"
    page_checks.check(page, "account overview, in English")
    # And back to Indonesian on the account pages, on the same page.
    page.click("[data-testid=language-id]")
    page.wait_for_selector("html[lang=id] [data-testid=account-summary]")
    assert urlsplit(page.url).path == "/account/"
    page_checks.check(page, "account overview, back in Indonesian")
    shots(page, "language-switched-back-account-id")
    page_checks.assert_clean(expected_pages=6)
