"""Second factors in Chromium: setting up an authenticator app during a sign-in (with the key
copied exactly and the recovery codes copied and downloaded), signing in with the app, a
recovery code and an emailed code, and "not you? start again"."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.conftest import GROUPS_BROKEN_ACROSS_LINES, allow_and_return, sign_in_from_portal
from tests.conftest import DEMO_PASSWORD
from tests.helpers.second_factor import member_with_email_factor, next_step, totp_code

CLIPBOARD = ["clipboard-read", "clipboard-write"]


@pytest.mark.settings(security={"require_mfa": True})
@pytest.mark.parametrize("language", ["id", "en"])
def test_totp_enrolment_then_sign_in_with_the_app(live_sites, make_member, open_page, page_checks, shots, language):
    member = make_member(locale=language)
    page = open_page(language, permissions=CLIPBOARD)
    sign_in_from_portal(page, live_sites, member.email, DEMO_PASSWORD)

    # A second factor is required and the member has none: set up the app now.
    page.wait_for_selector("[data-testid=enrol-page]")
    assert page.inner_text("[data-testid=signing-in-as]").startswith(("Akun", "Account"))
    shown = page.inner_text("[data-testid=totp-secret]")
    key = shown.replace(" ", "")
    assert page.eval_on_selector("[data-testid=totp-secret]", GROUPS_BROKEN_ACROSS_LINES) == []
    page.click("[data-testid=copy-totp-secret]")
    page.wait_for_selector("[data-testid=copy-totp-secret-status]:not(:empty)")
    assert page.evaluate("navigator.clipboard.readText()") == key
    otpauth = urlsplit(page.get_attribute("[data-testid=totp-open-app]", "href"))
    assert (otpauth.scheme, otpauth.netloc) == ("otpauth", "totp")
    assert parse_qs(otpauth.query)["secret"] == [key]
    page_checks.check(page, "enrolment")
    shots(page, f"enrolment-{language}")

    page.fill("[data-testid=totp-setup-code]", totp_code(key))
    page.click("[data-testid=totp-setup-submit]")
    page.wait_for_selector("[data-testid=recovery-codes]")
    codes = page.locator("[data-testid=recovery-code]").all_inner_texts()
    assert len(codes) >= 8
    for code in page.locator("[data-testid=recovery-code]").all():
        assert code.evaluate("element => element.getClientRects().length") == 1, "a recovery code wraps"
    page.click("[data-testid=copy-recovery-codes]")
    page.wait_for_selector("[data-testid=copy-recovery-codes-status]:not(:empty)")
    assert page.evaluate("navigator.clipboard.readText()").split("\n") == codes
    with page.expect_download() as download:
        page.click("[data-testid=download-recovery-codes]")
    assert download.value.suggested_filename == "recovery-codes.txt"
    saved = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert saved[-len(codes) :] == codes
    page_checks.check(page, "recovery codes")
    shots(page, f"recovery-codes-{language}")
    page.click("[data-testid=recovery-codes-continue]")
    allow_and_return(page, live_sites)

    # Later, in another browser: the app's code (after a wrong one), then the portal.
    next_step()
    page = open_page(language)
    sign_in_from_portal(page, live_sites, member.membership_number, DEMO_PASSWORD)
    page.wait_for_selector("[data-testid=totp-form]")
    page_checks.check(page, "authenticator code")
    page.fill("[data-testid=code-input]", "000000" if totp_code(key) != "000000" else "111111")
    page.click("[data-testid=totp-submit]")
    page.wait_for_selector("[data-testid=code_wrong]")
    assert page.get_attribute("[data-testid=code-input]", "aria-describedby") == "code-error"
    page_checks.check(page, "authenticator code wrong")
    page.click("[data-testid=use-recovery]")
    page.wait_for_selector("[data-testid=recovery-form]")
    page_checks.check(page, "recovery code")
    page.fill("[data-testid=code-input]", codes[0])
    page.click("[data-testid=recovery-submit]")
    # Consent was given at the first sign-in: straight back to the portal.
    page.wait_for_url(f"{live_sites.portal_url}/")
    shots(page, f"signed-in-with-recovery-code-{language}")
    page_checks.assert_clean(expected_pages=5)


@pytest.mark.parametrize("language", ["id", "en"])
def test_sign_in_with_an_emailed_code(app, live_sites, make_member, open_page, page_checks, shots, language):
    member, _ = member_with_email_factor(app, make_member, locale=language, full_name="Dewi Lestari")
    page = open_page(language)
    sign_in_from_portal(page, live_sites, member.email, DEMO_PASSWORD)
    page.wait_for_selector("[data-testid=email-send-form]")
    # Which account is signing in, masked, with a way to start again as someone else.
    masked = member.email[0] + "***@" + member.email.split("@")[1]
    assert masked in page.inner_text("[data-testid=signing-in-as]")
    page_checks.check(page, "emailed code, before sending")
    page.click("[data-testid=email-send]")
    page.wait_for_selector("[data-testid=email-code-form]")
    page_checks.check(page, "emailed code, sent")
    page.fill("[data-testid=code-input]", live_sites.code_in_last_mail(member.email))
    page.click("[data-testid=email-code-submit]")
    allow_and_return(page, live_sites)
    assert "Dewi Lestari" in page.content()
    shots(page, f"signed-in-with-emailed-code-{language}")
    page_checks.assert_clean(expected_pages=2)


def test_not_you_starts_the_sign_in_again(app, live_sites, make_member, open_page):
    member, _ = member_with_email_factor(app, make_member, locale="en")
    someone_else = make_member(locale="en", full_name="Budi Santoso")
    page = open_page("en")
    sign_in_from_portal(page, live_sites, member.email, DEMO_PASSWORD)
    page.wait_for_selector("[data-testid=signing-in-as]")
    page.click("[data-testid=not-you]")
    page.wait_for_selector("[data-testid=login-form]")
    # The same authorization request again, at the login, as a real new sign-in.
    assert "/interaction/" in page.url
    assert page.input_value("#identifier") == ""
    page.fill("#identifier", someone_else.email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    allow_and_return(page, live_sites)
    assert "Budi Santoso" in page.content()
