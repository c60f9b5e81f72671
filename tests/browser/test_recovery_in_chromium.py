"""Forgotten password and lockout in Chromium: from the login page to a new password by the
mailed link (read from the outbox), then signing in with it; and the lock message after too
many wrong passwords, with its way on (resetting the password)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import allow_and_return, sign_in_from_portal
from tests.conftest import DEMO_PASSWORD

NEW_PASSWORD = "a new and rather long passphrase"


@pytest.mark.parametrize("language", ["id", "en"])
def test_forgot_password_to_a_new_password(live_sites, make_member, open_page, page_checks, shots, language):
    member = make_member(locale=language, full_name="Rina Wati")
    page = open_page(language)
    page.goto(live_sites.portal_url)
    page.get_by_role("link", name="Sign in").click()
    page.click("[data-testid=forgot-link]")
    page.wait_for_selector("[data-testid=forgot-form]")
    page_checks.check(page, "forgot password")
    page.fill("#identifier", member.membership_number)
    page.click("[data-testid=forgot-submit]")
    page.wait_for_selector("[data-testid=reset_requested]")
    page_checks.check(page, "reset link sent")

    link = live_sites.link_in_last_mail(member.email, "/recovery/reset/")
    page.goto(link)
    page.wait_for_selector("[data-testid=reset-form]")
    page_checks.check(page, "choose a new password")
    page.fill("#password", "short")
    page.fill("#confirm", "short")
    page.click("[data-testid=reset-submit]")
    page.wait_for_selector("[data-testid=password_rejected]")
    assert page.get_attribute("#password", "aria-describedby") == "password-guidance password-error"
    page_checks.check(page, "new password refused")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD + " typo")
    page.click("[data-testid=reset-submit]")
    page.wait_for_selector("[data-testid=password_mismatch]")
    assert page.get_attribute("#confirm", "aria-describedby") == "confirm-error"
    page_checks.check(page, "new passwords differ")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("[data-testid=reset-submit]")
    page.wait_for_selector("[data-testid=password_reset_done]")
    # Not a dead end: the page offers the sign-in.
    assert page.get_attribute("[data-testid=reset-done-sign-in]", "href") == "/account/"
    page_checks.check(page, "password changed")
    shots(page, f"password-changed-{language}")

    page.goto(link)
    page.wait_for_selector("[data-testid=reset_link_unusable]")
    page_checks.check(page, "reset link used")

    sign_in_from_portal(page, live_sites, member.email, NEW_PASSWORD)
    allow_and_return(page, live_sites)
    assert "Rina Wati" in page.content()
    page_checks.assert_clean(expected_pages=7)


@pytest.mark.settings(lockout={"max_failures": 3})
@pytest.mark.parametrize("language", ["id", "en"])
def test_lockout_message(live_sites, make_member, open_page, page_checks, shots, language):
    member = make_member(locale=language)
    page = open_page(language)
    sign_in_from_portal(page, live_sites, member.email, "wrong password 1")
    # Each answer is a new page carrying the same message as the last one: wait for the
    # navigation itself, or the next fill can land on the page being replaced.
    for attempt in (2, 3):
        page.wait_for_selector("[data-testid=login_failed]")
        page.fill("#password", f"wrong password {attempt}")
        with page.expect_navigation():
            page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=account_locked]")
    # During the lock even the right password gets the lock message.
    page.fill("#password", DEMO_PASSWORD)
    with page.expect_navigation():
        page.click("[data-testid=login-submit]")
    locked = page.wait_for_selector("[data-testid=account_locked]")
    assert locked.get_attribute("role") == "alert"
    assert page.get_attribute("#password", "aria-describedby") == "login-error"
    assert page.locator("[data-testid=account_locked] a").get_attribute("href") == "/recovery/forgot"
    page_checks.check(page, "account locked")
    shots(page, f"account-locked-{language}")
    page_checks.assert_clean(expected_pages=1)
