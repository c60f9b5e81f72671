"""Operators unlock, lock and list locked accounts, and read the audit trail."""

from __future__ import annotations

import json

from tests.cli.conftest import assert_failed, assert_succeeded
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import LoginPage
from tests.http.test_lockout import WRONG


def _lock_out(client, client_id: str, identifier: str) -> None:
    login = LoginPage(client, client_id)
    for _ in range(5):
        login.attempt(identifier, WRONG)
    assert login.attempt(identifier, DEMO_PASSWORD).status_code == 423


def test_locked_lists_and_unlock_clears(idp, app, client, make_member, make_client):
    member = make_member()
    registered, _ = make_client(public=True)
    _lock_out(client, registered.client_id, member.email)

    listed = json.loads(assert_succeeded(idp("members", "locked", "--json")).stdout)
    assert len(listed) == 1
    assert listed[0]["member"] == member.membership_number
    assert listed[0]["locked_until"] and listed[0]["until_unlocked"] is False
    table = assert_succeeded(idp("members", "locked")).stdout
    assert member.email in table

    unlocked = assert_succeeded(idp("members", "unlock", member.membership_number, "--by", "support-agent-7"))
    assert unlocked.stdout == f"unlocked {member.membership_number}\n"
    assert assert_succeeded(idp("members", "locked")).stdout == "nothing is locked\n"
    assert LoginPage(app.test_client(), registered.client_id).attempt(member.email, DEMO_PASSWORD).status_code == 303

    events = json.loads(assert_succeeded(idp("audit", "tail", "--member", member.email, "--json")).stdout)
    kinds = [(event["event"], event["outcome"]) for event in events]
    assert ("lock_started", "locked") in kinds
    assert ("unlock", "success") in kinds
    unlock = next(event for event in events if event["event"] == "unlock")
    assert unlock["actor"] == "support-agent-7"
    assert kinds[-1] == ("sign_in", "success")  # oldest first, newest last


def test_unknown_identifiers_can_be_unlocked_too(idp, client, make_client):
    registered, _ = make_client(public=True)
    _lock_out(client, registered.client_id, "nobody@example.test")
    listed = json.loads(idp("members", "locked", "--json").stdout)
    assert len(listed) == 1 and listed[0]["member"] is None
    assert assert_succeeded(idp("members", "unlock", "NOBODY@example.test")).stdout == "unlocked NOBODY@example.test\n"
    assert json.loads(idp("members", "locked", "--json").stdout) == []


def test_unlock_of_an_unlocked_account_is_an_operator_mistake(idp, make_member):
    member = make_member()
    assert_failed(idp("members", "unlock", member.email), 1, member.email, "not locked")
    assert_failed(idp("members", "unlock", "nobody@example.test"), 1, "not locked")


def test_manual_lock_holds_until_unlocked(idp, app, client, make_member, make_client, moving_clock):
    member = make_member()
    registered, _ = make_client(public=True)
    locked = assert_succeeded(idp("members", "lock", member.email, "--reason", "reported stolen phone", "--by", "ops"))
    assert locked.stdout == f"locked {member.email} until unlocked; 0 session(s) ended\n"

    moving_clock.advance(10 * 86400)
    refused = LoginPage(client, registered.client_id).attempt(member.email, DEMO_PASSWORD)
    assert refused.status_code == 423
    listed = json.loads(idp("members", "locked", "--json").stdout)
    assert listed[0]["until_unlocked"] is True and listed[0]["reason"] == "reported stolen phone"

    assert_succeeded(idp("members", "unlock", member.email))
    assert LoginPage(app.test_client(), registered.client_id).attempt(member.email, DEMO_PASSWORD).status_code == 303


def test_lock_needs_a_member_and_a_reason(idp, make_member):
    assert_failed(idp("members", "lock", "nobody@example.test", "--reason", "x"), 1, "no member")
    member = make_member()
    assert_failed(idp("members", "lock", member.email, "--reason", "  "), 1, "--reason must not be empty")


def test_audit_tail_as_table_and_for_unknown_member(idp, client, make_member, make_client):
    member = make_member()
    registered, _ = make_client(public=True)
    LoginPage(client, registered.client_id).attempt(member.email, WRONG)
    table = assert_succeeded(idp("audit", "tail", "--limit", "5")).stdout
    assert "sign_in" in table and "failure" in table and member.membership_number in table
    assert WRONG not in table
    assert_failed(idp("audit", "tail", "--member", "nobody@example.test"), 1, "no member")
