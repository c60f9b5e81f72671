"""Temporary, growing lockout on the hosted login page, the same for unknown identifiers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from idp.db import get_session
from idp.models import AuditEvent
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    LoginPage,
    query_of,
)

WRONG = "not the right password"

# These tests make many attempts from one address: the per-IP rate limit is tested elsewhere.
pytestmark = pytest.mark.settings(ratelimit={"login_per_ip": "1000 per minute"})


def _password_checks(app) -> int:
    """Sign-in attempts whose password was actually evaluated (audited as success or failure)."""
    with app.app_context():
        return get_session().scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "sign_in", AuditEvent.outcome.in_(["success", "failure"]))
        )


def test_fifth_failure_locks_and_even_the_right_password_is_then_refused(app, client, rp, make_member, outbox):
    member = make_member()
    login = LoginPage(client, rp.client_id)
    for _ in range(4):
        assert login.attempt(member.email, WRONG).status_code == 401

    fifth = login.attempt(member.email, WRONG)
    assert fifth.status_code == 423
    assert 'data-testid="account_locked"' in fifth.text
    assert re.search(r"/recovery/forgot", fifth.text)

    checks_before = _password_checks(app)
    right = login.attempt(member.email, DEMO_PASSWORD)
    wrong = login.attempt(member.email, WRONG)
    assert right.status_code == wrong.status_code == 423
    assert _strip_tokens(right.text) == _strip_tokens(wrong.text)
    assert _password_checks(app) == checks_before  # no hash spent during the lock

    mails = outbox()
    assert len(mails) == 1
    assert mails[0].to == member.email
    assert "/recovery/forgot" in mails[0].text


def test_email_and_membership_number_share_one_count(client, rp, make_member):
    member = make_member()
    login = LoginPage(client, rp.client_id)
    spellings = [
        member.email.upper(),
        member.membership_number,
        f" {member.email} ",
        "-".join([member.membership_number[:3], member.membership_number[3:7], member.membership_number[7:]]),
    ]
    for identifier in spellings:
        assert login.attempt(identifier, WRONG).status_code == 401
    assert login.attempt(member.membership_number, WRONG).status_code == 423


def test_unknown_identifier_is_locked_exactly_like_a_real_one(client, rp, outbox):
    login = LoginPage(client, rp.client_id)
    statuses = [login.attempt("nobody@example.test", WRONG).status_code for _ in range(6)]
    assert statuses == [401, 401, 401, 401, 423, 423]
    assert outbox() == []


def test_success_resets_the_count(app, client, rp, make_member):
    member = make_member()
    login = LoginPage(client, rp.client_id)
    for _ in range(4):
        login.attempt(member.email, WRONG)
    assert login.attempt(member.email, DEMO_PASSWORD).status_code == 303

    # A fresh browser: the signed-in one would skip the login page.
    again = LoginPage(app.test_client(), rp.client_id)
    statuses = [again.attempt(member.email, WRONG).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 401]


def test_lock_expires_and_then_grows(client, rp, make_member, moving_clock):
    member = make_member()
    login = LoginPage(client, rp.client_id)
    for _ in range(5):
        login.attempt(member.email, WRONG)
    assert login.attempt(member.email, DEMO_PASSWORD).status_code == 423

    moving_clock.advance(301)  # base_duration_seconds = 300
    login = LoginPage(client, rp.client_id)
    for _ in range(4):
        assert login.attempt(member.email, WRONG).status_code == 401
    assert login.attempt(member.email, WRONG).status_code == 423

    moving_clock.advance(301)  # the second lock lasts 600 s: still locked
    login = LoginPage(client, rp.client_id)
    assert login.attempt(member.email, DEMO_PASSWORD).status_code == 423
    moving_clock.advance(300)
    login = LoginPage(client, rp.client_id)
    assert login.attempt(member.email, DEMO_PASSWORD).status_code == 303


def test_failures_outside_the_window_do_not_add_up(client, rp, make_member, moving_clock):
    member = make_member()
    login = LoginPage(client, rp.client_id)
    for _ in range(4):
        login.attempt(member.email, WRONG)
    moving_clock.advance(901)  # window_seconds = 900
    login = LoginPage(client, rp.client_id)
    assert login.attempt(member.email, WRONG).status_code == 401


@pytest.mark.settings(lockout={"permanent_after": 2})
def test_permanent_lock_after_configured_number_of_locks(client, rp, make_member, moving_clock):
    member = make_member()
    for _round in range(2):
        login = LoginPage(client, rp.client_id)
        for _ in range(5):
            login.attempt(member.email, WRONG)
        moving_clock.advance(100_000)
    login = LoginPage(client, rp.client_id)
    refused = login.attempt(member.email, DEMO_PASSWORD)
    assert refused.status_code == 423
    assert "until support unlocks" not in refused.text  # the page says locked, without a time
    assert 'data-testid="account_locked"' in refused.text


def test_a_lock_does_not_end_an_existing_session(client, make_client, make_member):
    member = make_member()
    rp, _ = make_client(public=True)
    signed_in = Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    assert "code" in query_of(signed_in)

    attacker = client.application.test_client()
    login = LoginPage(attacker, rp.client_id)
    for _ in range(5):
        login.attempt(member.email, WRONG)
    assert login.attempt(member.email, DEMO_PASSWORD).status_code == 423

    again = client.get(AuthorizationRequest(rp.client_id).url())
    assert again.status_code == 302 and "code=" in again.headers["Location"]


def _strip_tokens(html: str) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', html)
