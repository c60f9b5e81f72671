"""The account overview says when and from where the sign-in before this one was (from the
audit trail), so a member notices a sign-in that was not theirs."""

from __future__ import annotations

import re
from html import unescape

from tests.helpers.account import sign_in_to_account
from tests.helpers.oidc import Browser

PHONE_BROWSER = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
)


def _text(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no {testid}"
    return " ".join(unescape(match.group(1)).split())


def test_the_first_sign_in_says_so(client, make_member):
    overview = sign_in_to_account(client, make_member(locale="en"))
    assert _text(overview.text, "first-sign-in") == "This is the first sign-in to your account that we know of."


def test_the_sign_in_before_this_one_with_its_browser_address_and_zone(app, make_member, moving_clock):
    member = make_member(locale="en")
    phone = app.test_client()
    phone.environ_base.update({"HTTP_USER_AGENT": PHONE_BROWSER, "REMOTE_ADDR": "198.51.100.7"})
    sign_in_to_account(phone, member)

    moving_clock.advance(3600)
    laptop = app.test_client()
    overview = sign_in_to_account(laptop, member)
    previous = _text(overview.text, "previous-sign-in")
    assert previous.startswith("Your sign-in before this one: ")
    assert "Chrome · Android" in previous and "198.51.100.7" in previous
    assert re.search(r"\d{1,2}:\d{2}:\d{2} [AP]M WIB, from", previous), previous
    assert 'data-testid="first-sign-in"' not in overview.text
    # The way on when it was not them: where they are signed in.
    assert 'href="/account/sessions" data-testid="last-sign-in-sessions"' in overview.text

    # A failed attempt is not a sign-in: for the next one, the one before is the laptop's.
    third = app.test_client()
    started = third.get("/account/")
    moving_clock.advance(60)
    Browser(third).login(started.headers["Location"], member.email, "not the password")
    overview = sign_in_to_account(third, member)
    previous = _text(overview.text, "previous-sign-in")
    assert "Chrome · Android" not in previous and "an unknown browser" in previous
