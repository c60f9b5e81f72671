"""A member signs in to the demo benefits portal in a real browser (Chromium via Playwright):
portal → hosted login → consent → back to the portal → balances. This is where CSP, cookies
(SameSite), redirects after form posts and the pages' markup meet a real user agent."""

from __future__ import annotations

import contextlib
import time

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import DESKTOP, PHONE
from tests.conftest import DEMO_PASSWORD


@pytest.mark.parametrize("language", ["id", "en"])
def test_sign_in_consent_and_balances_in_chromium(live_sites, make_member, open_page, page_checks, shots, language):
    member = make_member(full_name="Siti Rahayu", email="siti@example.test", locale=language)
    page = open_page(language)
    page.goto(live_sites.portal_url)
    page.get_by_role("link", name="Sign in").click()

    page.wait_for_selector("[data-testid=login-form]")
    assert page.get_attribute("html", "lang") == language
    # The trust cues: the program, where the member is going back to, and our own address.
    assert page.inner_text("[data-testid=brand-name]")
    assert "Benefits Portal" in page.inner_text("[data-testid=login-client]")
    assert page.inner_text("[data-testid=login-client-host]").count(live_sites.portal_url.removeprefix("http://")) == 1
    assert page.inner_text("[data-testid=provider-host]") == live_sites.idp_url.removeprefix("http://")
    page_checks.check(page, "login")
    shots(page, f"login-{language}")

    page.fill("#identifier", member.membership_number)
    page.fill("#password", "a wrong password")
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=login_failed]")
    # The refusal is announced and tied to the fields it is about.
    assert page.get_attribute("#password", "aria-describedby") == "login-error"
    assert page.get_attribute("#password", "aria-invalid") == "true"
    page_checks.check(page, "login failed")

    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=consent-form]")
    page_checks.check(page, "consent")
    page.click("[data-testid=consent-allow]")

    page.wait_for_url(f"{live_sites.portal_url}/")
    assert "Siti Rahayu" in page.content()
    page.goto(f"{live_sites.portal_url}/balances")
    assert "JHT" in page.content() and "Rp" in page.content()
    # The balance table holds at 360 px (and on a desktop) without sideways scrolling.
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), viewport
    page.set_viewport_size(PHONE)
    shots(page, f"portal-balances-{language}")

    # The portal is now a connected app, listed with the consent page's words, not raw scopes.
    page.goto(f"{live_sites.idp_url}/account/apps")
    page.wait_for_selector("[data-testid=app-list]")
    allowed = page.inner_text("[data-testid=app-scopes]")
    assert "benefits:read" not in allowed and "openid" not in allowed
    assert page.locator("[data-testid=app-scopes] li").count() == 5
    page_checks.check(page, "connected apps, one app")
    page_checks.assert_clean(expected_pages=4)


def test_pages_raise_no_csp_violations(live_sites, open_page):
    page = open_page("en")
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(live_sites.portal_url)
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_selector("[data-testid=login-form]")
    page.wait_for_load_state("load")  # the stylesheet, script, logo and favicon, not only the markup
    assert page.get_attribute("html", "lang") == "en"
    # The stylesheet loaded under our CSP: the login card is styled, not a bare form.
    assert page.eval_on_selector(".card", "element => getComputedStyle(element).borderRadius") == "8px"
    # The logo is an image that loaded; the favicon is one of ours.
    assert page.eval_on_selector("[data-testid=brand-logo]", "image => image.complete && image.naturalWidth > 0")
    favicon = page.get_attribute("link[rel=icon]", "href")
    assert page.request.get(live_sites.idp_url + favicon).headers["content-type"].startswith("image/svg+xml")
    assert not [text for text in problems if "Content Security Policy" in text], problems


def test_password_can_be_shown_and_pasted(live_sites, open_page):
    page = open_page("en")
    page.goto(live_sites.portal_url)
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_selector("[data-testid=login-form]")
    # The page's scripts have run (the button is theirs): typed before that, one local run saw
    # the field come back empty.
    page.wait_for_selector("button.reveal")
    page.wait_for_load_state("load")
    page.fill("#password", "pasted passphrase")
    assert page.get_attribute("#password", "type") == "password"
    page.click("button.reveal")
    assert page.get_attribute("#password", "type") == "text"
    assert page.input_value("#password") == "pasted passphrase"
    assert page.get_attribute("#password", "autocomplete") == "current-password"
    assert page.get_attribute("button.reveal", "aria-label") == "Hide: Password"
    page.click("button.reveal")
    assert page.get_attribute("#password", "type") == "password"
    # The button shares the password's row, not the submit button's line.
    reveal = page.locator("button.reveal").bounding_box()
    submit = page.locator("[data-testid=login-submit]").bounding_box()
    field = page.locator("#password").bounding_box()
    assert reveal["y"] + reveal["height"] <= submit["y"]
    assert abs(reveal["y"] - field["y"]) < 2


def test_a_second_press_while_a_step_is_on_its_way_does_not_send_it_again(live_sites, make_member, open_page):
    """The step that leaves nothing to ask answers with the code, and a second copy of it
    finds the step taken (the interaction moved on). So a second press of the button while
    the first answer is on its way (a slow network, held here) must not send the form again:
    the browser would drop the first answer and show the copy's ("start again") instead of
    arriving at the portal."""
    member = make_member(email="dewi@example.test")
    page = open_page("en")
    consent_posts: list[str] = []

    def hold_the_answer(route) -> None:
        consent_posts.append(route.request.url)
        answer = route.fetch(max_redirects=0)  # idp has answered; the browser does not have it yet
        time.sleep(0.8)
        with contextlib.suppress(PlaywrightError):  # the browser gave up this navigation for a newer one
            route.fulfill(response=answer)

    page.goto(live_sites.portal_url)
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_selector("[data-testid=login-form]")
    page.fill("#identifier", member.email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=consent-form]")
    page.route("**/consent", hold_the_answer)
    page.evaluate(
        """() => {
            const allow = document.querySelector("[data-testid=consent-allow]");
            allow.click();
            setTimeout(() => allow.click(), 300);
        }"""
    )

    page.wait_for_url(f"{live_sites.portal_url}/")
    assert "Sign out" in page.content()
    assert len(consent_posts) == 1, consent_posts
