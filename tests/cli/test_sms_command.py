"""`idp sms test NUMBER` against a real HTTP server standing in for the gateway; what
`idp members show` and `idp members reset-mfa` do for members with codes by SMS."""

from __future__ import annotations

import json
import re

import pytest

from tests.cli.conftest import assert_failed, assert_succeeded
from tests.helpers.oidc import AuthorizationRequest
from tests.helpers.second_factor import password_step
from tests.helpers.sms import PHONE, member_with_sms_factor
from tests.helpers.sms_gateway import SmsGateway


@pytest.fixture
def gateway():
    server = SmsGateway().start()
    yield server
    server.stop()


@pytest.fixture
def gateway_env(gateway: SmsGateway) -> dict:
    return {f"IDP_SMS__{key.upper()}": str(value) for key, value in gateway.settings(http_timeout_seconds=1).items()}


def test_idp_sms_test_sends_through_the_gateway(idp, gateway, gateway_env):
    result = assert_succeeded(idp("sms", "test", "0812-3456-7890", env=gateway_env))
    assert result.stdout == f"sms sent to {PHONE} through the HTTP gateway {gateway.url}\n"
    (received,) = gateway.received
    assert received.body["to"] == PHONE and "test message" in received.body["text"]


def test_idp_sms_test_says_why_not_in_one_line(idp, gateway, gateway_env):
    gateway.status = 401
    assert_failed(idp("sms", "test", PHONE, env=gateway_env), 2, "sms not sent to +6281234567890", "HTTP 401")


def test_idp_sms_test_refuses_what_is_not_a_number(idp, gateway_env):
    assert_failed(idp("sms", "test", "12", env=gateway_env), 1, "is not a phone number")


def test_idp_sms_test_with_the_outbox_writes_the_text(idp, cli_env):
    result = assert_succeeded(idp("sms", "test", PHONE))
    assert "through the outbox folder" in result.stdout


# --- what support sees and resets ---------------------------------------------------------------


def test_members_show_says_whether_the_number_is_verified(idp, app, make_member):
    unverified = make_member(phone=PHONE)
    shown = json.loads(assert_succeeded(idp("members", "show", unverified.membership_number, "--json")).stdout)
    assert shown["phone"] == PHONE and shown["phone_verified"] is False

    member, _ = member_with_sms_factor(app, make_member, phone="+6281298765432")
    shown = assert_succeeded(idp("members", "show", member.membership_number)).stdout
    assert re.search(r"phone_verified:\s+yes\n", shown), shown


def test_reset_mfa_removes_the_sms_factor_and_the_next_sign_in_asks_for_none(idp, app, make_member, rp):
    member, _ = member_with_sms_factor(app, make_member)
    result = assert_succeeded(idp("members", "reset-mfa", member.membership_number))
    assert result.stdout.startswith(f"removed 1 second factor(s) of {member.membership_number}")
    browser = app.test_client()
    logged_in = password_step(browser, AuthorizationRequest(rp.client_id), member)
    assert logged_in.status_code == 303 and not logged_in.headers["Location"].endswith("/second-factor")
