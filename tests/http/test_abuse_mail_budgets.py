"""Issue 10 §2: mail nobody else can use up. Whoever knows a member's email can ask for reset
links until that budget is spent; the member's emailed sign-in codes and the security notices
still arrive, and a notice that cannot be sent is recorded and logged."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, LoginPage, csrf_token
from tests.helpers.second_factor import code_in_mail, member_with_email_factor, send_email_code, to_challenge

WRONG = "not the right password"
pytestmark = pytest.mark.settings(
    ratelimit={"forgot_password_per_ip": "100 per minute", "login_per_ip": "100 per minute"}
)


def _exhaust_reset_mail(client, identifier: str, times: int = 8) -> None:
    """An attacker who knows the identifier asks for reset links, more than the budget."""
    for _ in range(times):
        page = client.get("/recovery/forgot")
        answered = client.post("/recovery/forgot", data={"csrf_token": csrf_token(page.text), "identifier": identifier})
        assert answered.status_code == 200


def test_forgot_password_requests_do_not_silence_the_members_sign_in_codes(app, client, rp, make_member, outbox):
    member, _ = member_with_email_factor(app, make_member)
    attacker = app.test_client()
    _exhaust_reset_mail(attacker, member.email)
    resets = [mail for mail in outbox() if "/recovery/reset/" in mail.text]
    assert len(resets) == 5, "the reset-link budget is spent"

    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert send_email_code(client, uid).status_code in (200, 303)
    codes = [mail for mail in outbox() if mail.to == member.email and "/recovery/reset/" not in mail.text]
    assert any(code_in_mail_or_none(mail.text) for mail in codes), "the sign-in code arrived"


def code_in_mail_or_none(text: str) -> str | None:
    try:
        return code_in_mail(text)
    except AssertionError:
        return None


def test_forgot_password_requests_do_not_silence_the_lock_notice(app, rp, make_member, outbox):
    member = make_member()
    _exhaust_reset_mail(app.test_client(), member.membership_number)
    before = len(outbox())
    login = LoginPage(app.test_client(), rp.client_id)
    for _ in range(5):
        login.attempt(member.email, WRONG)
    notices = [mail for mail in outbox()[before:] if mail.to == member.email]
    assert len(notices) == 1
    assert "/recovery/forgot" in notices[0].text  # the lock notice, with how to recover


@pytest.mark.settings(ratelimit={"email_per_identifier": "1 per hour"})
def test_security_notices_are_never_dropped_by_a_budget(app, client, make_member, outbox):
    """A password change notice after the member's reset budget is spent still goes out."""
    from tests.helpers.account import sign_in_to_account, submit

    member = make_member()
    _exhaust_reset_mail(app.test_client(), member.email, times=3)
    sign_in_to_account(client, member)
    before = len(outbox())
    changed = submit(
        client,
        "/account/profile/password",
        "/account/profile/password",
        {
            "current_password": DEMO_PASSWORD,
            "password": "a brand new passphrase for me",
            "confirm": "a brand new passphrase for me",
        },
    )
    assert changed.status_code in (200, 303), changed.text[:300]
    assert [mail.to for mail in outbox()[before:]] == [member.email]


def test_a_security_notice_that_cannot_be_sent_is_recorded_and_logged(app, rp, make_member, outbox, caplog):
    member = make_member(email=None)
    login = LoginPage(app.test_client(), rp.client_id)
    with caplog.at_level(logging.WARNING, logger="idp.mail"):
        for _ in range(5):
            login.attempt(member.membership_number, WRONG)
    assert any("security notice not sent" in record.getMessage() for record in caplog.records)
    with app.app_context():
        events = get_session().scalars(select(AuditEvent).where(AuditEvent.event == "security_notice")).all()
    assert [(event.outcome, event.member_id) for event in events] == [("not_sent", member.id)]
