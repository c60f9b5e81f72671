"""Issue 10 §3 and §6: the lockout counts failures only, a lower max_failures never turns old
counts into a lock nobody announced, and a password over the length limit during a lock
answers like every other attempt."""

from __future__ import annotations

import re

import pytest

from idp import create_app
from idp.db import get_engine
from tests.conftest import DEMO_PASSWORD, stop_worker
from tests.helpers.oidc import LoginPage

WRONG = "not the right password"

pytestmark = pytest.mark.settings(ratelimit={"login_per_ip": "1000 per minute"})


def _same_page(html: str) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', html)


def test_a_member_who_signs_in_often_is_never_locked(app, rp, make_member, moving_clock):
    """A kiosk at a branch office: 110 good sign-ins within one hour, nothing failed."""
    member = make_member()
    statuses = []
    for _ in range(110):
        statuses.append(LoginPage(app.test_client(), rp.client_id).attempt(member.email, DEMO_PASSWORD).status_code)
        moving_clock.advance(20)
    assert statuses == [303] * 110


def test_failed_checks_are_still_capped_within_the_hour(client, rp, make_member, moving_clock):
    """Interleaved with successes, failures still lock after max_failures in a row."""
    member = make_member()
    login = LoginPage(client, rp.client_id)
    for _ in range(4):
        assert login.attempt(member.email, WRONG).status_code == 401
    assert login.attempt(member.email, WRONG).status_code == 423


def _second_app(app_config: dict, **lockout):
    config = {section: dict(values) for section, values in app_config.items()}
    config["lockout"] = {**config.get("lockout", {}), **lockout}
    application = create_app(config)
    application.config["TESTING"] = True
    return application


def test_a_lower_max_failures_does_not_lock_on_old_counts(app, app_config, rp, make_member, outbox):
    member = make_member()
    login = LoginPage(app.test_client(), rp.client_id)
    for _ in range(4):
        assert login.attempt(member.email, WRONG).status_code == 401

    stricter = _second_app(app_config, max_failures=3)
    try:
        # Four failures counted under max_failures = 5: the right password still works.
        right = LoginPage(stricter.test_client(), rp.client_id).attempt(member.email, DEMO_PASSWORD)
        assert right.status_code == 303
    finally:
        stop_worker(stricter)
        get_engine(stricter).dispose()


def test_after_a_lower_max_failures_the_next_failure_starts_an_announced_lock(app, app_config, rp, make_member, outbox):
    member = make_member()
    login = LoginPage(app.test_client(), rp.client_id)
    for _ in range(4):
        assert login.attempt(member.email, WRONG).status_code == 401

    stricter = _second_app(app_config, max_failures=3)
    try:
        strict_login = LoginPage(stricter.test_client(), rp.client_id)
        locked = strict_login.attempt(member.email, WRONG)
        assert locked.status_code == 423
        assert 'data-testid="account_locked"' in locked.text
        assert strict_login.attempt(member.email, DEMO_PASSWORD).status_code == 423
    finally:
        stop_worker(stricter)
        get_engine(stricter).dispose()
    notices = [mail for mail in outbox() if mail.to == member.email]
    assert len(notices) == 1, "the lock is announced to the member"


def test_a_password_over_the_length_limit_during_a_lock_answers_like_any_attempt(client, rp, make_member):
    member = make_member()
    login = LoginPage(client, rp.client_id)
    for _ in range(5):
        login.attempt(member.email, WRONG)
    ordinary = login.attempt(member.email, WRONG)
    too_long = login.attempt(member.email, "x" * 500)
    assert ordinary.status_code == too_long.status_code == 423
    assert _same_page(ordinary.text) == _same_page(too_long.text)


def test_a_password_over_the_length_limit_without_a_lock_is_a_plain_failure(client, rp, make_member):
    member = make_member()
    login = LoginPage(client, rp.client_id)
    assert login.attempt(member.email, "x" * 500).status_code == 401
