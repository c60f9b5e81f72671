"""The Security page: list, add and remove factors and regenerate recovery codes, each behind a
fresh check, audited and mailed to the member."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent, RecoveryCode, SecondFactor
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, path_of
from tests.helpers.second_factor import (
    enrol_totp,
    follow,
    member_with_totp,
    next_step,
    secret_on,
    sign_in_to_account,
    submit_totp,
    totp_code,
)

FRESH_MINUTES = 10


def signed_in_with_totp(app, make_member, **fields):
    """A member with an app, signed in to the account pages through the challenge. English, so
    the mails' subjects below read as written (their Indonesian is tested with the catalog)."""
    fields.setdefault("locale", "en")
    member, seed, codes = member_with_totp(app, make_member, **fields)
    browser = app.test_client()
    started = browser.get("/account/")
    logged_in = Browser(browser).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    uid = logged_in.headers["Location"].split("/")[2]
    page = follow(browser, submit_totp(browser, uid, totp_code(seed)))
    assert 'data-testid="account-summary"' in page.text
    next_step()
    return member, seed, codes, browser


def factor_ids(page_text: str, kind: str) -> list[str]:
    return re.findall(rf'data-kind="{kind}" data-factor-id="(\d+)"', page_text)


def mails_about(outbox, member, fragment: str):
    return [mail for mail in outbox() if mail.to == member.email and fragment in mail.subject]


def test_the_page_lists_factors_and_is_never_cached(app, make_member):
    member, _, _, browser = signed_in_with_totp(app, make_member)
    page = browser.get("/account/security/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert len(factor_ids(page.text, "totp")) == 1
    assert 'data-testid="recovery-codes-left" data-count="10"' in page.text
    assert 'data-testid="add-email"' in page.text  # verified email: emailed codes can be added


def test_enrolment_is_audited_and_mailed(app, client, make_member, outbox):
    member = make_member(locale="en")
    sign_in_to_account(client, member)
    enrol_totp(client)
    (mail,) = mails_about(outbox, member, "second factor was added")
    assert "authenticator app" in mail.text.lower()
    with app.app_context():
        events = get_session().scalars(select(AuditEvent).where(AuditEvent.event == "second_factor_enrolled")).all()
        assert [(e.member_id, e.outcome) for e in events] == [(member.id, "success")]


def test_without_a_factor_a_stale_sign_in_must_sign_in_again_to_enrol(client, make_member, moving_clock):
    member = make_member(locale="en")
    sign_in_to_account(client, member)
    moving_clock.advance(FRESH_MINUTES * 60 + 1)
    setup = client.get("/account/security/totp")
    assert setup.status_code == 303
    assert setup.headers["Location"] == "/account/security/verify?next=/account/security/totp"
    verify = client.get(path_of(setup.headers["Location"]))
    assert verify.status_code == 303 and verify.headers["Location"].startswith("/interaction/")
    login = client.get(path_of(verify.headers["Location"]))
    assert 'data-testid="login-form"' in login.text
    back = follow(client, Browser(client).login(verify.headers["Location"], member.email, DEMO_PASSWORD))
    assert back.status_code == 200 and 'data-testid="totp-setup-page"' in back.text


def test_removing_a_factor_needs_a_fresh_second_factor_check(app, make_member, moving_clock, outbox):
    member, seed, _, browser = signed_in_with_totp(app, make_member)
    page = browser.get("/account/security/")
    (factor_id,) = factor_ids(page.text, "totp")
    moving_clock.advance(FRESH_MINUTES * 60 + 1)

    refused = browser.post(f"/account/security/factors/{factor_id}/remove", data={"csrf_token": csrf_token(page.text)})
    assert refused.status_code == 303 and refused.headers["Location"].startswith("/account/security/verify")
    with app.app_context():
        assert get_session().scalars(select(SecondFactor)).one()

    check = browser.get(path_of(refused.headers["Location"]))
    assert 'data-testid="fresh-check"' in check.text and 'data-testid="totp-form"' in check.text
    post_url = re.search(r'<form method="post" action="([^"]+)" data-testid="totp-form"', check.text).group(1)
    wrong = browser.post(post_url.replace("&amp;", "&"), data={"csrf_token": csrf_token(check.text), "code": "000000"})
    assert wrong.status_code == 401 and 'data-testid="code_wrong"' in wrong.text
    right = browser.post(
        post_url.replace("&amp;", "&"), data={"csrf_token": csrf_token(check.text), "code": totp_code(seed)}
    )
    assert right.status_code == 303 and right.headers["Location"] == "/account/security/"

    page = browser.get("/account/security/")
    assert 'data-testid="verified"' in page.text
    removed = browser.post(f"/account/security/factors/{factor_id}/remove", data={"csrf_token": csrf_token(page.text)})
    assert removed.status_code == 303 and removed.headers["Location"] == "/account/security/"
    assert 'data-testid="factor_removed"' in browser.get("/account/security/").text

    with app.app_context():
        db = get_session()
        assert db.scalars(select(SecondFactor)).all() == []
        assert db.scalars(select(RecoveryCode)).all() == []  # the last factor took its codes along
        assert db.scalars(select(AuditEvent).where(AuditEvent.event == "second_factor_removed")).one()
    (mail,) = mails_about(outbox, member, "second factor was removed")
    assert "remember" in mail.text.lower()

    # With no factor left, the next sign-in is the password alone.
    other = app.test_client()
    request = AuthorizationRequest(make_client_id(app))
    started = other.get(request.url())
    logged_in = Browser(other).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    assert not logged_in.headers["Location"].endswith("/second-factor")


def make_client_id(app) -> str:
    from idp.services.clients import NewClient, create_client

    with app.app_context():
        db = get_session()
        registered, _ = create_client(
            db,
            NewClient(
                name="RP",
                redirect_uris=["https://rp.example.test/callback"],
                scopes=["openid"],
                public=True,
                first_party=True,
            ),
        )
        db.commit()
        return registered.client_id


def test_regenerating_codes_needs_a_fresh_check_and_is_mailed(app, make_member, moving_clock, outbox):
    member, seed, old_codes, browser = signed_in_with_totp(app, make_member)
    moving_clock.advance(FRESH_MINUTES * 60 + 1)
    page = browser.get("/account/security/")
    refused = browser.post("/account/security/recovery-codes", data={"csrf_token": csrf_token(page.text)})
    assert refused.status_code == 303 and "/verify" in refused.headers["Location"]
    with app.app_context():
        assert len(get_session().scalars(select(RecoveryCode)).all()) == 10

    # The fresh check with a recovery code (which it uses up).
    check = browser.get("/account/security/verify?method=recovery&next=/account/security/")
    assert 'data-testid="recovery-form"' in check.text
    passed = browser.post(
        "/account/security/verify/recovery?next=/account/security/",
        data={"csrf_token": csrf_token(check.text), "code": old_codes[0]},
    )
    assert passed.status_code == 303
    page = browser.get("/account/security/")
    assert 'data-count="9"' in page.text
    new = browser.post("/account/security/recovery-codes", data={"csrf_token": csrf_token(page.text)})
    assert new.status_code == 200 and len(re.findall(r'data-testid="recovery-code"', new.text)) == 10
    assert mails_about(outbox, member, "recovery codes")


def test_the_fresh_check_by_emailed_code(app, make_member, moving_clock, outbox):
    member, seed, _, browser = signed_in_with_totp(app, make_member)
    page = browser.get("/account/security/")
    browser.post("/account/security/email", data={"csrf_token": csrf_token(page.text)})
    moving_clock.advance(FRESH_MINUTES * 60 + 1)

    check = browser.get("/account/security/verify?method=email&next=/account/security/")
    assert 'data-testid="email-send"' in check.text
    sent = browser.post(
        "/account/security/verify/email/send?next=/account/security/", data={"csrf_token": csrf_token(check.text)}
    )
    assert sent.status_code == 303
    code = re.search(r"(?<![\d.])\d{6}(?![\d.])", [m for m in outbox() if "sign-in code" in m.subject][-1].text).group(
        0
    )
    mail = [m for m in outbox() if "sign-in code" in m.subject][-1]
    assert "account pages" in mail.text  # no relying party asked: the account pages did
    check = browser.get(path_of(sent.headers["Location"]))
    passed = browser.post(
        "/account/security/verify/email?next=/account/security/",
        data={"csrf_token": csrf_token(check.text), "code": code},
    )
    assert passed.status_code == 303
    assert 'data-testid="fresh-check-note"' not in browser.get("/account/security/").text


def test_the_check_page_returns_only_to_account_pages(app, make_member, moving_clock):
    member, seed, _, browser = signed_in_with_totp(app, make_member)
    check = browser.get("/account/security/verify?next=https://evil.example/")
    passed = browser.post(
        "/account/security/verify/totp?next=https://evil.example/",
        data={"csrf_token": csrf_token(check.text), "code": totp_code(seed)},
    )
    assert passed.status_code == 303 and passed.headers["Location"] == "/account/security/"


def test_emailed_codes_need_a_verified_address(client, make_member):
    member = make_member(email_verified=False, locale="en")
    sign_in_to_account(client, member)
    page = client.get("/account/security/")
    assert 'data-testid="add-email"' not in page.text
    token = csrf_token(client.get("/account/").text)
    refused = client.post("/account/security/email", data={"csrf_token": token})
    assert refused.status_code == 303
    assert 'data-testid="email_unavailable"' in client.get("/account/security/").text
    assert 'data-testid="no-factors"' in client.get("/account/security/").text


def test_changes_need_the_csrf_token(app, make_member):
    member, _, _, browser = signed_in_with_totp(app, make_member)
    page = browser.get("/account/security/")
    (factor_id,) = factor_ids(page.text, "totp")
    browser.post(f"/account/security/factors/{factor_id}/remove", data={})
    with app.app_context():
        assert get_session().scalars(select(SecondFactor)).one()


def test_another_members_factor_cannot_be_removed(app, make_member):
    victim, _, _, victim_browser = signed_in_with_totp(app, make_member)
    (victim_factor,) = factor_ids(victim_browser.get("/account/security/").text, "totp")
    _, _, _, browser = signed_in_with_totp(app, make_member)
    page = browser.get("/account/security/")
    browser.post(f"/account/security/factors/{victim_factor}/remove", data={"csrf_token": csrf_token(page.text)})
    with app.app_context():
        assert get_session().get(SecondFactor, int(victim_factor)) is not None


@pytest.mark.settings(security={"require_mfa": True})
def test_require_mfa_keeps_the_last_factor(app, client, make_member):
    member = make_member(locale="en")
    # Enrolment at the first sign-in (the policy), then to the account pages.
    started = client.get("/account/")
    logged_in = Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    uid = logged_in.headers["Location"].split("/")[2]
    enrol = follow(client, client.get(f"/interaction/{uid}/second-factor"))
    seed = secret_on(enrol.text)
    done = client.post(
        f"/interaction/{uid}/enrol/totp", data={"csrf_token": csrf_token(enrol.text), "code": totp_code(seed)}
    )
    continue_to = re.search(r'href="([^"]+)" data-testid="recovery-codes-continue"', done.text).group(1)
    follow(client, client.get(continue_to))

    page = client.get("/account/security/")
    (factor_id,) = factor_ids(page.text, "totp")
    refused = client.post(f"/account/security/factors/{factor_id}/remove", data={"csrf_token": csrf_token(page.text)})
    assert refused.status_code == 303
    assert 'data-testid="last_factor_required"' in client.get("/account/security/").text
    with app.app_context():
        assert get_session().scalars(select(SecondFactor)).one()
