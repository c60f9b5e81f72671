"""Every other hosted page in Chromium, in both languages, at 360 px and 1280 px: the account
pages, activation, and the error pages (404, a refused authorization request, an expired
sign-in page, 429). Each page passes axe-core (no serious or critical violation) and the
layout checks of tests/browser/conftest.py; the flows themselves are tested over HTTP."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.second_factor import totp_code

NEW_PASSWORD = "another long passphrase to remember"


def _current_section(page) -> tuple[str, str]:
    marked = page.locator("[data-testid=account-nav] [aria-current]")
    assert marked.count() == 1
    return marked.get_attribute("aria-current"), marked.get_attribute("data-testid")


@pytest.mark.parametrize("language", ["id", "en"])
def test_account_pages(live_sites, make_member, open_page, page_checks, shots, moving_clock, language):
    member = make_member(locale=language, full_name="Agus Salim")
    page = open_page(language)
    page.goto(f"{live_sites.idp_url}/account/")
    page.wait_for_selector("[data-testid=login-account]")
    page_checks.check(page, "login for the account pages")
    page.fill("#identifier", member.email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")

    page.wait_for_selector("[data-testid=account-summary]")
    assert _current_section(page) == ("page", "nav-account.index")
    # The header shows the program, not "sign-in", on every account page.
    assert page.inner_text("[data-testid=brand-name]") == ("Akun Peserta" if language == "id" else "Member account")
    page_checks.check(page, "overview")
    shots(page, f"account-overview-{language}")

    page.click("[data-testid=nav-account_profile\\.index]")
    page.wait_for_selector("[data-testid=contact-form]")
    assert _current_section(page) == ("page", "nav-account_profile.index")
    page_checks.check(page, "profile")
    page.fill("#phone", "not a number")
    page.click("[data-testid=contact-submit]")
    page.wait_for_selector("[data-testid=phone_invalid]")
    assert page.get_attribute("#phone", "aria-describedby") == "phone-error"
    page_checks.check(page, "profile, phone refused")

    page.click("[data-testid=link-change-email]")
    page.wait_for_selector("[data-testid=email-change-form]")
    assert _current_section(page) == ("true", "nav-account_profile.index")
    page_checks.check(page, "change email")
    page.fill("#email", "agus.new@example.test")
    page.fill("#current_password", DEMO_PASSWORD)
    page.click("[data-testid=email-change-submit]")
    page.wait_for_selector("[data-testid=email_link_sent]")
    link = live_sites.link_in_last_mail("agus.new@example.test", "/account/profile/email/verify/")
    page.goto(link)
    page.wait_for_selector("[data-testid=email-confirm-form]")
    page_checks.check(page, "confirm the new email")
    page.click("[data-testid=email-confirm]")
    page.wait_for_selector("[data-testid=email_changed]")
    page_checks.check(page, "email changed")
    page.goto(link)
    page.wait_for_selector("[data-testid=verification_link_unusable]")
    page_checks.check(page, "email link used")
    page.goto(f"{live_sites.idp_url}/")
    page.wait_for_selector("[data-testid=home-signed-in]")
    page_checks.check(page, "start page, signed in")

    page.goto(f"{live_sites.idp_url}/account/profile/password")
    page.wait_for_selector("[data-testid=password-change-form]")
    page_checks.check(page, "change password")
    page.fill("#current_password", "not my password")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("[data-testid=password-change-submit]")
    page.wait_for_selector("[data-testid=current_password_wrong]")
    assert page.get_attribute("#current_password", "aria-describedby") == "current-password-error"
    page_checks.check(page, "change password, current one wrong")

    page.click("[data-testid=nav-account_security\\.index]")
    page.wait_for_selector("[data-testid=no-factors]")
    page_checks.check(page, "security, no factor")
    page.click("[data-testid=add-totp]")
    page.wait_for_selector("[data-testid=totp-setup-page]")
    page_checks.check(page, "add an authenticator app")
    key = page.inner_text("[data-testid=totp-secret]").replace(" ", "")
    page.fill("[data-testid=totp-setup-code]", totp_code(key))
    page.click("[data-testid=totp-setup-submit]")
    page.wait_for_selector("[data-testid=recovery-codes]")
    page_checks.check(page, "recovery codes (account)")
    page.click("[data-testid=recovery-codes-continue]")
    page.wait_for_selector("[data-testid=factor-list]")
    page_checks.check(page, "security, with a factor")

    page.click("[data-testid=nav-account_sessions\\.sessions]")
    page.wait_for_selector("[data-testid=session-list]")
    page_checks.check(page, "sessions")
    page.click("[data-testid=nav-account_sessions\\.apps]")
    page.wait_for_selector("[data-testid=no-apps]")
    page_checks.check(page, "connected apps")

    # Later, changing factors again asks for a fresh second-factor check first.
    moving_clock.advance(15 * 60)
    page.goto(f"{live_sites.idp_url}/account/security/totp")
    page.wait_for_selector("[data-testid=fresh-check]")
    page_checks.check(page, "confirm it is you")

    page.click("[data-testid=nav-account\\.index]")
    page.click("[data-testid=account-logout]")
    page.wait_for_selector("[data-testid=home-signed-out]")
    # Signed out is not a dead end: the start page offers signing in again.
    assert page.get_attribute("[data-testid=home-sign-in]", "href") == "/account/"
    page_checks.check(page, "signed out")
    page_checks.assert_clean(expected_pages=19)


@pytest.mark.parametrize("language", ["id", "en"])
def test_activation_pages(live_sites, make_member, open_page, page_checks, language):
    record = make_member(password=None, email=None, email_verified=False, locale=language, birth_date=date(1985, 6, 1))
    active = make_member(locale=language)
    page = open_page(language)
    page.goto(f"{live_sites.idp_url}/activate")
    page.wait_for_selector("[data-testid=activation-form]")
    page_checks.check(page, "activation")

    def submit_record(number: str, nik: str, born: str) -> None:
        page.fill("#membership_number", number)
        page.fill("#nik", nik)
        page.fill("#birth_date", born)
        page.click("[data-testid=activation-submit]")

    submit_record(record.membership_number, record.nik, "1985-06-02")
    page.wait_for_selector("[data-testid=activation_mismatch]")
    assert page.get_attribute("#nik", "aria-describedby") == "nik-hint activation-error"
    page_checks.check(page, "activation, details do not match")
    submit_record(record.membership_number, record.nik, "1985-06-01")
    page.wait_for_selector("[data-testid=activation-account-form]")
    page_checks.check(page, "activation, email and password")
    page.fill("#email", "new.member@example.test")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("[data-testid=activation-account-submit]")
    page.wait_for_selector("[data-testid=activation_link_sent]")
    page_checks.check(page, "activation, link sent")

    link = live_sites.link_in_last_mail("new.member@example.test", "/activate/verify/")
    page.goto(link)
    page.wait_for_selector("[data-testid=activation-confirm-form]")
    page_checks.check(page, "activation, confirm the email")
    page.click("[data-testid=activation-confirm]")
    page.wait_for_selector("[data-testid=activation_done]")
    page_checks.check(page, "activation done")
    page.goto(link)
    page.wait_for_selector("[data-testid=verification_link_unusable]")
    page_checks.check(page, "activation link used")

    page.goto(f"{live_sites.idp_url}/activate")
    submit_record(active.membership_number, active.nik, active.birth_date.isoformat())
    page.wait_for_selector("[data-testid=activation_already_active]")
    page_checks.check(page, "already active")
    page_checks.assert_clean(expected_pages=8)


@pytest.mark.settings(ratelimit={"forgot_password_per_ip": "2 per minute"})
@pytest.mark.parametrize("language", ["id", "en"])
def test_error_pages(live_sites, open_page, page_checks, shots, language):
    page = open_page(language)
    page.goto(f"{live_sites.idp_url}/no-such-page")
    page.wait_for_selector("[data-testid=http-error-404]")
    page_checks.check(page, "404")
    page.goto(f"{live_sites.idp_url}/authorize?client_id=no-such-client&response_type=code")
    page.wait_for_selector("[data-testid=authorization-error]")
    page_checks.check(page, "authorization request refused")
    page.goto(f"{live_sites.idp_url}/interaction/no-such-interaction")
    page.wait_for_selector("[data-testid=interaction_expired]")
    page_checks.check(page, "sign-in page expired")

    for attempt in range(3):
        page.goto(f"{live_sites.idp_url}/recovery/forgot")
        page.fill("#identifier", f"someone{attempt}@example.test")
        page.click("[data-testid=forgot-submit]")
    page.wait_for_selector("[data-testid=rate_limited]")
    # The way on: back to the step that was refused.
    assert page.get_attribute("[data-testid=rate-limited-back]", "href") == "/recovery/forgot"
    page_checks.check(page, "429")
    shots(page, f"rate-limited-{language}")
    page_checks.assert_clean(expected_pages=4)


def test_page_checks_report_what_they_are_for(live_sites, open_page, page_checks):
    """The checks above find real problems: an unlabelled field, grey-on-white text, a page
    wider than the phone, a default-blue link, a show-password button beside the submit and a
    button in another font, and an inline style the CSP refuses."""
    page = open_page("en")
    page.goto(f"{live_sites.idp_url}/recovery/forgot")
    page.wait_for_load_state("load")
    page.evaluate(
        """() => {
          const form = document.querySelector("[data-testid=forgot-form]");
          form.insertAdjacentHTML("afterbegin", '<input type="text" name="unlabelled">');
          const grey = document.createElement("p");
          grey.textContent = "Hard to read";
          grey.style.color = "#cccccc";
          form.after(grey);
          const wide = document.createElement("div");
          wide.style.width = "2000px";
          wide.textContent = "wide";
          form.after(wide);
          const link = document.createElement("a");
          link.href = "#";
          link.textContent = "plain link";
          link.style.color = "rgb(0, 0, 238)";
          form.after(link);
          const reveal = document.createElement("button");
          reveal.type = "button";
          reveal.className = "reveal";
          reveal.textContent = "Show";
          form.querySelector("button[type=submit]").before(reveal);
          const serif = document.createElement("button");
          serif.textContent = "Serif";
          serif.style.fontFamily = "serif";
          form.after(serif);
          const inline = document.createElement("p");
          inline.setAttribute("style", "color: red");
          form.after(inline);
        }"""
    )
    page_checks.check(page, "broken on purpose")
    found = "\n".join(page_checks.problems)
    assert "axe label (critical)" in found
    assert "axe color-contrast (serious)" in found
    assert "at 360px: scrolls sideways" in found and "at 1280px: scrolls sideways" in found
    assert "an unstyled link" in found
    assert "a show-password button is on the submit button's line" in found
    assert "a button not in the body font" in found
    assert "the CSP refused something: style-src-attr" in found


@pytest.mark.parametrize("language", ["id", "en"])
def test_previous_sign_in_and_time_zone(live_sites, make_member, open_page, page_checks, shots, language):
    """The overview's sign-in before this one, and choosing WITA on the profile page: the
    sessions page then shows its times in WITA."""
    member = make_member(locale=language)
    for _browser in ("phone", "laptop"):  # two browsers, one sign-in each
        page = open_page(language)
        page.goto(f"{live_sites.idp_url}/account/")
        page.fill("#identifier", member.email)
        page.fill("#password", DEMO_PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=account-summary]")
    assert "WIB" in page.inner_text("[data-testid=previous-sign-in]")
    page_checks.check(page, "overview with the sign-in before this one")
    shots(page, f"account-previous-sign-in-{language}")

    page.click("[data-testid=nav-account_profile\\.index]")
    page.check("[data-testid=time-zone-Asia\\/Makassar]")
    page.click("[data-testid=time-zone-submit]")
    page.wait_for_selector("[data-testid=time_zone_saved]")
    assert page.is_checked("[data-testid=time-zone-Asia\\/Makassar]")
    page_checks.check(page, "profile, time zone saved")
    page.click("[data-testid=nav-account_sessions\\.sessions]")
    page.wait_for_selector("[data-testid=session-list]")
    assert page.inner_text("[data-testid=session-last-seen] >> nth=0").endswith("WITA")
    page_checks.check(page, "sessions in WITA")
    page_checks.assert_clean(expected_pages=3)
