"""Remember this browser: off by default; when on, a signed cookie bound to the member skips
the second factor (the sign-in then counts as password only) until it expires, the password is
reset or a factor is removed. A relying party asking for more still gets a real check."""

from __future__ import annotations

import pytest

from idp.services.assurance import ACR_PASSWORD, ACR_PASSWORD_AUTHENTICATOR
from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import EMAIL_CHANGE_LINK, links_in
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, path_of, set_cookies
from tests.helpers.second_factor import (
    REMEMBER_COOKIE,
    challenge_page,
    follow,
    id_token_claims,
    member_with_totp,
    next_step,
    password_step,
    remembered_browser,
    sign_in_to_account,
    submit_totp,
    to_challenge,
    to_client,
    totp_code,
)

COOKIE = REMEMBER_COOKIE
pytestmark = pytest.mark.settings(security={"remember_browser_days": 30})


@pytest.mark.settings(security={"remember_browser_days": 0})
def test_off_by_default_nothing_is_offered(app, client, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    page = client.get(f"/interaction/{uid}/second-factor")
    assert 'data-testid="remember-browser"' not in page.text
    passed = submit_totp(client, uid, totp_code(seed), remember=True)
    assert COOKIE not in set_cookies(passed)


def test_a_remembered_browser_skips_the_challenge_at_the_password_level(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    request = AuthorizationRequest(rp.client_id)
    logged_in = password_step(browser, request, member)
    assert not logged_in.headers["Location"].endswith("/second-factor")
    claims = id_token_claims(browser, to_client(browser, logged_in), request)
    # It stands in for the member's factor, but claims no fresh second factor.
    assert claims["acr"] == ACR_PASSWORD and claims["amr"] == ["pwd"]


def test_it_never_satisfies_a_relying_party_asking_for_more(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR})
    uid = to_challenge(browser, request, member)
    claims = id_token_claims(browser, to_client(browser, submit_totp(browser, uid, totp_code(seed))), request)
    assert claims["acr"] == ACR_PASSWORD_AUTHENTICATOR

    # Nor a step-up of the remembered session.
    next_step()
    other = remembered_browser(app, rp, member, seed)
    plain = AuthorizationRequest(rp.client_id)
    to_client(other, password_step(other, plain, member))
    stepped = other.get(AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR}).url())
    assert stepped.status_code == 303
    assert 'data-testid="totp-form"' in follow(other, other.get(stepped.headers["Location"])).text


def test_it_is_bound_to_the_member(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    someone_else, _, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    assert 'data-testid="totp-form"' in challenge_page(browser, AuthorizationRequest(rp.client_id), someone_else)


def test_it_expires(app, rp, make_member, moving_clock):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    moving_clock.advance(31 * 86400)
    assert 'data-testid="totp-form"' in challenge_page(browser, AuthorizationRequest(rp.client_id), member)


def test_removing_a_factor_forgets_every_browser(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)

    # The member adds emailed codes and removes them again, from another browser.
    manager = app.test_client()
    uid = to_challenge(manager, AuthorizationRequest(rp.client_id), member)
    follow(manager, submit_totp(manager, uid, totp_code(seed)))
    page = manager.get("/account/security/")
    manager.post("/account/security/email", data={"csrf_token": csrf_token(page.text)})
    page = manager.get("/account/security/")
    email_factor_id = page.text.split('data-kind="email" data-factor-id="')[1].split('"')[0]
    removed = manager.post(
        f"/account/security/factors/{email_factor_id}/remove", data={"csrf_token": csrf_token(page.text)}
    )
    assert removed.status_code == 303
    next_step()

    assert 'data-testid="totp-form"' in challenge_page(browser, AuthorizationRequest(rp.client_id), member)


def test_a_password_reset_forgets_every_browser(app, rp, make_member, outbox):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)

    stranger = app.test_client()
    forgot = stranger.get("/recovery/forgot")
    stranger.post("/recovery/forgot", data={"csrf_token": csrf_token(forgot.text), "identifier": member.email})
    link = next(line for mail in outbox() for line in mail.text.splitlines() if "/recovery/reset/" in line).strip()
    path = link[link.index("/recovery/reset/") :]
    form = stranger.get(path)
    new_password = "a completely new passphrase 42"
    done = stranger.post(
        path, data={"csrf_token": csrf_token(form.text), "password": new_password, "confirm": new_password}
    )
    assert done.status_code == 200

    challenge = challenge_page(browser, AuthorizationRequest(rp.client_id), member, password=new_password)
    assert 'data-testid="totp-form"' in challenge


def test_a_tampered_cookie_is_ignored(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    value = browser.get_cookie(COOKIE).value
    browser.set_cookie(COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert 'data-testid="totp-form"' in challenge_page(browser, AuthorizationRequest(rp.client_id), member)


def test_account_sign_in_with_a_remembered_browser(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    page = sign_in_to_account(browser, member)  # no challenge on the way
    assert 'data-testid="account-summary"' in page.text


def test_signing_out_everywhere_forgets_every_browser(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    sign_in_to_account(browser, member)  # no challenge on the way: remembered
    page = browser.get("/account/sessions")
    ended = browser.post("/account/sessions/end-all", data={"csrf_token": csrf_token(page.text)})
    assert ended.status_code == 303
    assert 'data-testid="totp-form"' in challenge_page(browser, AuthorizationRequest(rp.client_id), member)


def test_changing_the_password_forgets_every_browser(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    sign_in_to_account(browser, member)
    new_password = "a completely new passphrase 42"
    page = browser.get("/account/profile/password")
    changed = browser.post(
        "/account/profile/password",
        data={
            "csrf_token": csrf_token(page.text),
            "current_password": DEMO_PASSWORD,
            "password": new_password,
            "confirm": new_password,
        },
    )
    assert changed.status_code == 303
    account = browser.get("/account/")
    browser.post("/account/logout", data={"csrf_token": csrf_token(account.text)})
    challenge = challenge_page(browser, AuthorizationRequest(rp.client_id), member, password=new_password)
    assert 'data-testid="totp-form"' in challenge


def test_a_confirmed_email_change_forgets_every_browser(app, rp, make_member, outbox):
    member, seed, _ = member_with_totp(app, make_member)
    browser = remembered_browser(app, rp, member, seed)
    sign_in_to_account(browser, member)
    new_email = "new.address@example.test"
    page = browser.get("/account/profile/email")
    browser.post(
        "/account/profile/email",
        data={"csrf_token": csrf_token(page.text), "email": new_email, "current_password": DEMO_PASSWORD},
    )
    (link,) = links_in(outbox(), EMAIL_CHANGE_LINK, to=new_email)
    path = path_of(link)
    confirm = browser.get(path)
    assert browser.post(path, data={"csrf_token": csrf_token(confirm.text)}).status_code == 200
    account = browser.get("/account/")
    browser.post("/account/logout", data={"csrf_token": csrf_token(account.text)})
    signing_in = browser.get(AuthorizationRequest(rp.client_id).url())
    after_password = Browser(browser).login(signing_in.headers["Location"], new_email, DEMO_PASSWORD)
    assert after_password.headers["Location"].endswith("/second-factor")
