"""`idp members reset-mfa`: an operator removes every second factor of a member who lost them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import Passkey, RecoveryCode, SecondFactor
from tests.cli.conftest import assert_failed, assert_succeeded
from tests.helpers.oidc import AuthorizationRequest
from tests.helpers.second_factor import (
    challenge_page,
    give_totp,
    member_with_totp,
    password_step,
    remembered_browser,
    to_challenge,
)
from tests.helpers.webauthn import member_with_passkey, passwordless


def test_reset_removes_every_factor_audits_and_mails_the_member(idp, app, make_member, make_client, outbox):
    member, seed, codes = member_with_totp(app, make_member, locale="en")
    rp, _ = make_client(public=True)
    to_challenge(app.test_client(), AuthorizationRequest(rp.client_id), member)  # asked before
    mails_before = len(outbox())

    result = assert_succeeded(idp("members", "reset-mfa", member.membership_number, "--by", "support-agent-7"))
    assert result.stdout == (
        f"removed 1 second factor(s) of {member.membership_number}; the member was notified by email\n"
    )

    with app.app_context():
        db = get_session()
        assert db.scalars(select(SecondFactor)).all() == []
        assert db.scalars(select(RecoveryCode)).all() == []

    events = json.loads(assert_succeeded(idp("audit", "tail", "--member", member.email, "--json")).stdout)
    reset = [event for event in events if event["event"] == "second_factor_reset"]
    assert len(reset) == 1 and reset[0]["actor"] == "support-agent-7" and reset[0]["outcome"] == "success"

    (mail,) = outbox()[mails_before:]
    assert mail.to == member.email
    assert "removed by support" in mail.subject
    assert "support" in mail.text.lower()

    # The next sign-in is the password alone.
    logged_in = password_step(app.test_client(), AuthorizationRequest(rp.client_id), member)
    assert not logged_in.headers["Location"].endswith("/second-factor")


@pytest.mark.settings(security={"remember_browser_days": 30})
def test_a_browser_remembered_before_the_reset_is_challenged_for_the_new_factor(idp, app, make_member, make_client):
    member, seed, _ = member_with_totp(app, make_member)
    rp, _ = make_client(public=True)
    browser = remembered_browser(app, rp, member, seed)
    assert_succeeded(idp("members", "reset-mfa", member.email))
    give_totp(app, member)  # the member sets up a new app
    assert 'data-testid="totp-form"' in challenge_page(browser, AuthorizationRequest(rp.client_id), member)


def test_reset_of_a_member_without_factors_says_so_and_mails_nothing(idp, make_member, outbox):
    member = make_member()
    result = assert_succeeded(idp("members", "reset-mfa", member.email))
    assert result.stdout == f"{member.email} had no second factor; nothing was changed\n"
    assert outbox() == []
    events = json.loads(idp("audit", "tail", "--json").stdout)
    assert [e["outcome"] for e in events if e["event"] == "second_factor_reset"] == ["no_factors"]


def test_reset_defaults_the_actor_to_the_login_name(idp, app, make_member):
    member, _, _ = member_with_totp(app, make_member)
    assert_succeeded(idp("members", "reset-mfa", member.email))
    events = json.loads(idp("audit", "tail", "--json").stdout)
    reset = [event for event in events if event["event"] == "second_factor_reset"]
    assert reset and reset[0]["actor"].startswith("cli")


def test_unknown_member_is_one_line_and_exit_1(idp):
    assert_failed(idp("members", "reset-mfa", "nobody@example.test"), 1, "no member")


def test_reset_removes_passkeys_too(idp, app, make_member, make_client):
    member, authenticator, _ = member_with_passkey(app, make_member)
    rp, _ = make_client(public=True)
    result = assert_succeeded(idp("members", "reset-mfa", member.membership_number, "--by", "support"))
    assert result.stdout.startswith("removed 1 second factor(s)")
    with app.app_context():
        assert get_session().scalars(select(Passkey)).all() == []
    refused = passwordless(app.test_client(), AuthorizationRequest(rp.client_id), authenticator)
    assert refused.status_code == 401
