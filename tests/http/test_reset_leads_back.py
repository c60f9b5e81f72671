"""A password reset started from a sign-in is no dead end: the forgot-password pages and the
"password changed" page lead back to that same sign-in (in this browser), which then goes on to
the relying party with the new password."""

from __future__ import annotations

import re
from html import unescape

from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, login_page_uid, path_of

RESET_LINK = re.compile(r"https?://[^/\s\"'<>]+(?P<path>/recovery/reset/[A-Za-z0-9_\-]+)")
NEW_PASSWORD = "a brand new passphrase for the benefits"


def _href(html: str, testid: str) -> str:
    match = re.search(rf'href="([^"]+)" data-testid="{testid}"', html)
    assert match, f"no {testid}"
    return unescape(match.group(1))


def test_a_reset_from_the_login_page_leads_back_to_that_sign_in(client, rp, make_member, outbox):
    member = make_member()
    request = AuthorizationRequest(rp.client_id)
    uid = login_page_uid(client.get(request.url()))
    login = client.get(f"/interaction/{uid}")
    forgot = client.get(_href(login.text, "forgot-link"))
    assert _href(forgot.text, "recovery-back-to-sign-in") == f"/interaction/{uid}"
    sent = client.post("/recovery/forgot", data={"csrf_token": csrf_token(forgot.text), "identifier": member.email})
    assert _href(sent.text, "recovery-back-to-sign-in") == f"/interaction/{uid}"
    link = RESET_LINK.search([mail for mail in outbox() if mail.to == member.email][-1].text).group("path")
    reset = client.get(link)
    done = client.post(
        link, data={"csrf_token": csrf_token(reset.text), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert 'data-testid="password_reset_done"' in done.text
    assert _href(done.text, "recovery-back-to-sign-in") == f"/interaction/{uid}"
    # The same sign-in, which now takes the new password and answers the relying party.
    back = client.get(f"/interaction/{uid}")
    assert 'data-testid="login-form"' in back.text
    answered = Browser(client).follow_to_client(
        Browser(client).login(f"/interaction/{uid}", member.email, NEW_PASSWORD)
    )
    assert answered.startswith(request.redirect_uri) and "code=" in answered


def test_without_a_sign_in_the_way_on_is_the_account_pages(client, make_member, outbox):
    member = make_member()
    forgot = client.get("/recovery/forgot?flow=../../evil")
    assert 'data-testid="recovery-back-to-sign-in"' not in forgot.text
    client.post("/recovery/forgot", data={"csrf_token": csrf_token(forgot.text), "identifier": member.email})
    link = RESET_LINK.search([mail for mail in outbox() if mail.to == member.email][-1].text).group("path")
    reset = client.get(path_of(link))
    done = client.post(
        link, data={"csrf_token": csrf_token(reset.text), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert 'data-testid="recovery-back-to-sign-in"' not in done.text
    assert _href(done.text, "reset-done-sign-in") == "/account/"
