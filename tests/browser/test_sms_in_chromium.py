"""Codes by SMS in Chromium, in both languages: signing in with one (the SMS page before and
after sending, the code field a phone can autofill, autocomplete="one-time-code", a wrong
code, then the right one from the text), and verifying the number on the profile then
turning codes by SMS on. Every page passes axe-core and the layout checks."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import allow_and_return, sign_in_from_portal
from tests.conftest import DEMO_PASSWORD
from tests.helpers.sms import PHONE, member_with_sms_factor, texts


def wait_for_text(app, count: int) -> str:
    """The code of the ``count``-th text to the member's phone (the live server's worker sends it)."""
    deadline = time.monotonic() + 10
    while True:
        sent = texts(app, PHONE)
        if len(sent) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(sent) >= count, f"expected {count} texts, got {len(sent)}"
    return sent[count - 1].code


@pytest.mark.settings(ui={"brand_name": "Klaim Online"})
@pytest.mark.parametrize("language", ["id", "en"])
def test_sign_in_with_a_code_by_sms(app, live_sites, make_member, open_page, page_checks, shots, language):
    member, _ = member_with_sms_factor(app, make_member, locale=language, full_name="Dewi Lestari")
    page = open_page(language)
    sign_in_from_portal(page, live_sites, member.email, DEMO_PASSWORD)
    page.wait_for_selector("[data-testid=sms-send-form]")
    assert page.get_attribute("[data-testid=second-factor-challenge]", "data-method") == "sms"
    assert "+62 812" in page.inner_text("main") and PHONE not in page.content()
    page_checks.check(page, "sms code, before sending")
    shots(page, f"sms-code-before-sending-{language}")

    page.click("[data-testid=sms-send]")
    page.wait_for_selector("[data-testid=sms-code-form]")
    assert page.get_attribute("[data-testid=code-input]", "autocomplete") == "one-time-code"
    assert page.get_attribute("[data-testid=code-input]", "inputmode") == "numeric"
    page_checks.check(page, "sms code, sent")
    code = wait_for_text(app, 2)  # the first text verified the number

    page.fill("[data-testid=code-input]", "000000" if code != "000000" else "111111")
    page.click("[data-testid=sms-code-submit]")
    page.wait_for_selector("[data-testid=code_wrong]")
    assert page.get_attribute("[data-testid=code-input]", "aria-describedby") == "code-error"
    page_checks.check(page, "sms code wrong")

    page.fill("[data-testid=code-input]", code)
    page.click("[data-testid=sms-code-submit]")
    allow_and_return(page, live_sites)
    assert "Dewi Lestari" in page.content()
    shots(page, f"signed-in-with-sms-code-{language}")
    page_checks.assert_clean(expected_pages=3)


@pytest.mark.parametrize("language", ["id", "en"])
def test_verifying_the_number_and_turning_on_codes_by_sms(
    app, live_sites, make_member, open_page, page_checks, shots, language
):
    member = make_member(locale=language, phone=PHONE)
    page = open_page(language)
    page.goto(f"{live_sites.idp_url}/account/")
    page.fill("#identifier", member.email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=account-summary]")

    page.goto(f"{live_sites.idp_url}/account/security/")
    page.wait_for_selector("[data-testid=sms-needs-verified-number]")
    page_checks.check(page, "security, number not verified")
    page.goto(f"{live_sites.idp_url}/account/profile")
    page.wait_for_selector("[data-testid=phone-unverified]")
    page_checks.check(page, "profile, number not verified")
    page.click("[data-testid=phone-verify-send]")
    page.wait_for_selector("[data-testid=phone-code-form]")
    assert page.get_attribute("[data-testid=code-input]", "autocomplete") == "one-time-code"
    page_checks.check(page, "verify the number")
    shots(page, f"verify-number-{language}")
    code = wait_for_text(app, 1)
    page.fill("[data-testid=code-input]", "000000" if code != "000000" else "111111")
    page.click("[data-testid=phone-code-submit]")
    page.wait_for_selector("[data-testid=code_wrong]")
    assert page.get_attribute("[data-testid=code-input]", "aria-describedby") == "code-error"
    page_checks.check(page, "verify the number, wrong code")
    page.fill("[data-testid=code-input]", code)
    page.click("[data-testid=phone-code-submit]")
    page.wait_for_selector("[data-testid=phone_verified]")
    page_checks.check(page, "profile, number verified")

    page.goto(f"{live_sites.idp_url}/account/security/")
    page.click("[data-testid=add-sms]")
    page.wait_for_selector("[data-testid=recovery-codes]")
    page.click("[data-testid=recovery-codes-continue]")
    page.wait_for_selector("[data-testid=factor][data-kind=sms]")
    page_checks.check(page, "security, codes by SMS on")
    page_checks.assert_clean(expected_pages=6)
