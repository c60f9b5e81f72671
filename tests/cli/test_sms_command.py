"""`idp sms test NUMBER` against a real HTTP server standing in for the gateway."""

from __future__ import annotations

import pytest

from tests.cli.conftest import assert_failed, assert_succeeded
from tests.helpers.sms import PHONE
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
