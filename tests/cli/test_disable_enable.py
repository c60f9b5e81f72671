"""Issue 10 §3: `idp members disable/enable`, distinct from the temporary lock; a disabled or
operator-locked account answers a wrong password exactly like an unknown identifier, and only
the right password learns it is disabled and what to do. Either ends the member's sessions."""

from __future__ import annotations

import json
import re

import pytest

from tests.cli.conftest import assert_failed, assert_succeeded
from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import sign_in_to_account
from tests.helpers.oidc import LoginPage

WRONG = "not the right password"
pytestmark = pytest.mark.settings(ratelimit={"login_per_ip": "1000 per minute"}, ui={"support_url": "tel:+62211500"})


def _same_page(html: str) -> str:
    html = re.sub(r'value="[^"]*"', 'value=""', html)
    html = re.sub(r"/interaction/[A-Za-z0-9_\-]+", "/interaction/UID", html)
    return re.sub(r"flow=[A-Za-z0-9_\-]+", "flow=UID", html)


def _answers_like_an_unknown_identifier(app, rp, member) -> None:
    unknown = LoginPage(app.test_client(), rp.client_id).attempt("nobody-at-all@example.test", WRONG)
    wrong = LoginPage(app.test_client(), rp.client_id).attempt(member.email, WRONG)
    assert wrong.status_code == unknown.status_code == 401
    assert _same_page(wrong.text) == _same_page(unknown.text)


def _only_the_right_password_learns_it(app, rp, member) -> None:
    right = LoginPage(app.test_client(), rp.client_id).attempt(member.email, DEMO_PASSWORD)
    assert right.status_code == 423
    assert 'data-testid="account_disabled"' in right.text
    assert "tel:+62211500" in right.text  # what to do: contact support
    assert "Location" not in right.headers


def test_a_disabled_account_answers_a_wrong_password_like_an_unknown_identifier(idp, app, rp, make_member):
    member = make_member()
    disabled = assert_succeeded(idp("members", "disable", member.email, "--reason", "deceased", "--by", "ops"))
    assert disabled.stdout == f"disabled {member.email}; 0 session(s) ended\n"
    shown = json.loads(assert_succeeded(idp("members", "show", member.email, "--json")).stdout)
    assert (shown["disabled"], shown["disabled_reason"]) == (True, "deceased")
    _answers_like_an_unknown_identifier(app, rp, member)
    _only_the_right_password_learns_it(app, rp, member)

    assert assert_succeeded(idp("members", "enable", member.membership_number)).stdout == (
        f"enabled {member.membership_number}\n"
    )
    assert LoginPage(app.test_client(), rp.client_id).attempt(member.email, DEMO_PASSWORD).status_code == 303


def test_an_operator_lock_answers_a_wrong_password_like_an_unknown_identifier(idp, app, rp, make_member):
    member = make_member()
    assert_succeeded(idp("members", "lock", member.email, "--reason", "reported stolen phone"))
    _answers_like_an_unknown_identifier(app, rp, member)
    _only_the_right_password_learns_it(app, rp, member)


def test_failures_on_an_operator_locked_account_lock_like_an_unknown_identifier(idp, app, rp, make_member):
    member = make_member()
    assert_succeeded(idp("members", "lock", member.email, "--reason", "fraud check"))
    unknown = LoginPage(app.test_client(), rp.client_id)
    known = LoginPage(app.test_client(), rp.client_id)
    unknown_statuses = [unknown.attempt("nobody-else@example.test", WRONG).status_code for _ in range(6)]
    known_statuses = [known.attempt(member.email, WRONG).status_code for _ in range(6)]
    assert known_statuses == unknown_statuses == [401, 401, 401, 401, 423, 423]
    # The operator's lock is still there under the temporary one.
    listed = json.loads(idp("members", "locked", "--json").stdout)
    mine = next(row for row in listed if row["member"] == member.membership_number)
    assert mine["reason"] == "fraud check"


@pytest.mark.parametrize("command", [["disable", "--reason", "fraud"], ["lock", "--reason", "fraud"]])
def test_disabling_or_locking_ends_the_members_sessions(idp, app, make_member, command):
    member = make_member()
    browser = app.test_client()
    sign_in_to_account(browser, member)
    assert browser.get("/account/").status_code == 200
    result = assert_succeeded(idp("members", command[0], member.email, *command[1:]))
    assert "1 session(s) ended" in result.stdout
    assert browser.get("/account/").status_code == 303  # back to the sign-in


def test_disable_and_enable_refuse_operator_mistakes(idp, make_member):
    member = make_member()
    assert_failed(idp("members", "enable", member.email), 1, "not disabled")
    assert_failed(idp("members", "disable", member.email, "--reason", " "), 1, "--reason must not be empty")
    assert_failed(idp("members", "disable", "nobody@example.test", "--reason", "x"), 1, "no member")
    assert_succeeded(idp("members", "disable", member.email, "--reason", "x"))
    assert_failed(idp("members", "disable", member.email, "--reason", "x"), 1, "already disabled")
