"""The HTTP SMS gateway against a real HTTP server started here (it records what it received,
and can answer errors or hang): what idp posts, how it authenticates, timeouts, retries
through the outbound queue, a gateway outage during a sign-in (a clear message, another
factor, nothing lost), and no code in any log line."""

from __future__ import annotations

import base64
import logging
import time

import pytest

from idp.db import get_session
from idp.models import Member
from idp.services import second_factor
from idp.services.audit import RequestOrigin
from idp.services.outbound import drain, run_due
from idp.services.sms import HttpSmsGateway, SmsNotSent, TextMessage
from idp.settings import load_settings
from tests.helpers.oidc import AuthorizationRequest
from tests.helpers.second_factor import (
    code_in_mail,
    id_token_claims,
    send_email_code,
    submit_email_code,
    to_challenge,
    to_client,
)
from tests.helpers.sms import PHONE, member_with_sms_factor, send_sms_code, submit_sms_code
from tests.helpers.sms_gateway import SmsGateway

pytestmark = pytest.mark.settings(ratelimit={"email_code_per_ip": "100 per minute"}, ui={"brand_name": "Klaim Online"})


@pytest.fixture
def gateway():
    server = SmsGateway().start()
    yield server
    server.stop()


@pytest.fixture
def app_config(app_config: dict, gateway: SmsGateway) -> dict:
    """The app's texts go to ``gateway``."""
    app_config.setdefault("sms", {}).update(gateway.settings(http_timeout_seconds=1, sender="KLAIM"))
    return app_config


def http_gateway(gateway: SmsGateway, **sms) -> HttpSmsGateway:
    return HttpSmsGateway(load_settings({"sms": gateway.settings(**sms)}, environ={}).sms)


MESSAGE = TextMessage(to=PHONE, text='Klaim "Online": 123456 is your code.\n\n@idp.test #123456', purpose="sms_test")


# --- what is posted -----------------------------------------------------------------------------


def test_a_text_is_one_json_post_with_the_bearer_token(gateway):
    http_gateway(gateway, sender="KLAIM").send(MESSAGE)
    (received,) = gateway.received
    assert received.path == "/v1/messages"
    assert received.headers["authorization"] == "Bearer gw-token-1"
    assert received.headers["content-type"].startswith("application/json")
    assert received.body == {"to": PHONE, "from": "KLAIM", "text": MESSAGE.text}


def test_basic_auth_and_a_body_template_of_the_providers_shape(gateway):
    template = '{"messages": [{"destinations": [{"to": "{to}"}], "from": "{sender}", "text": "{text}"}], "n": 1}'
    http_gateway(
        gateway, http_auth="basic", http_username="idp", http_password="pa:ss", http_body_template=template, sender="X"
    ).send(MESSAGE)
    (received,) = gateway.received
    assert received.headers["authorization"] == "Basic " + base64.b64encode(b"idp:pa:ss").decode()
    # The text's quotes and line breaks stay inside their string: the JSON keeps its shape.
    assert received.body == {"messages": [{"destinations": [{"to": PHONE}], "from": "X", "text": MESSAGE.text}], "n": 1}


def test_an_error_answer_is_not_sent_and_names_only_the_status(gateway, caplog):
    gateway.status = 503
    with caplog.at_level(logging.DEBUG), pytest.raises(SmsNotSent) as refused:
        http_gateway(gateway).send(MESSAGE)
    assert str(refused.value) == "HTTP 503"
    assert_no_code_logged(caplog, "123456")


@pytest.mark.parametrize("status", [302, 307])
def test_a_redirect_is_not_followed_with_the_credentials(gateway, status):
    gateway.status = status
    with pytest.raises(SmsNotSent) as refused:
        http_gateway(gateway).send(MESSAGE)
    assert str(refused.value) == f"HTTP {status}"
    assert [request.path for request in gateway.received] == ["/v1/messages"]


def test_a_gateway_that_hangs_is_given_up_after_the_timeout(gateway):
    gateway.hang_seconds = 3
    started = time.monotonic()
    with pytest.raises(SmsNotSent) as refused:
        http_gateway(gateway, http_timeout_seconds=1).send(MESSAGE)
    assert str(refused.value) == "Timeout"
    assert time.monotonic() - started < 2.5


def test_a_gateway_that_is_not_there_is_not_sent(gateway):
    gateway.stop()
    with pytest.raises(SmsNotSent):
        http_gateway(gateway).send(MESSAGE)


# --- through idp -------------------------------------------------------------------------------


def sms_member(app, make_member, gateway, **fields):
    return member_with_sms_factor(app, make_member, code_of=lambda number: _code(app, gateway, number), **fields)


def _code(app, gateway, number):
    drain(app)
    return gateway.last_code(number)


def test_a_sign_in_code_reaches_the_gateway_and_signs_in(app, client, rp, make_member, gateway, caplog):
    caplog.set_level(logging.DEBUG)
    member, _ = sms_member(app, make_member, gateway, locale="en")
    request = AuthorizationRequest(rp.client_id)
    uid = to_challenge(client, request, member)
    send_sms_code(client, uid)
    code = _code(app, gateway, PHONE)
    received = gateway.sent_to(PHONE)[-1]
    assert received.body["from"] == "KLAIM" and received.headers["authorization"] == "Bearer gw-token-1"
    passed = submit_sms_code(client, uid, code)
    claims = id_token_claims(client, to_client(client, passed), request)
    assert "sms" in claims["amr"]
    assert_no_code_logged(caplog, code)


def test_a_gateway_outage_says_so_offers_another_factor_and_loses_nothing(
    app, client, rp, make_member, gateway, outbox, moving_clock, caplog
):
    caplog.set_level(logging.DEBUG)
    member, _ = sms_member(app, make_member, gateway, locale="en")
    with app.app_context():
        db = get_session()
        second_factor.enable_email_factor(db, db.get(Member, member.id), RequestOrigin())
    gateway.status = 503
    request = AuthorizationRequest(rp.client_id, extra={"ui_locales": "en"})
    uid = to_challenge(client, request, member)
    assert send_sms_code(client, uid).status_code == 303
    drain(app)  # the first try fails; the job waits for its retry
    page = client.get(f"/interaction/{uid}/sms-code")
    assert 'data-testid="sms-delayed"' in page.text
    assert "We could not send the text message" in page.text and "We keep trying" in page.text
    # Another way in, on the same page: an emailed code (or a recovery code).
    assert 'data-testid="send-email-code"' in page.text and 'data-testid="use-recovery"' in page.text

    # Nothing is lost: the gateway comes back, the queue's retry delivers the same code, and
    # it signs in (within its lifetime).
    gateway.status = 200
    moving_clock.advance(16)  # outbound.retry_base_seconds
    run_due(app)
    code = gateway.last_code(PHONE)
    assert len(gateway.sent_to(PHONE)) == 3  # verification, the failed try, the retry
    page = client.get(f"/interaction/{uid}/sms-code")
    assert 'data-testid="sms-delayed"' not in page.text
    passed = submit_sms_code(client, uid, code)
    assert "sms" in id_token_claims(client, to_client(client, passed), request)["amr"]
    assert_no_code_logged(caplog, code)


def test_during_an_outage_the_member_signs_in_with_an_emailed_code(app, client, rp, make_member, gateway, outbox):
    member, _ = sms_member(app, make_member, gateway, locale="en")
    with app.app_context():
        db = get_session()
        second_factor.enable_email_factor(db, db.get(Member, member.id), RequestOrigin())
    gateway.status = 503
    request = AuthorizationRequest(rp.client_id)
    uid = to_challenge(client, request, member)
    send_sms_code(client, uid)
    drain(app)
    assert send_email_code(client, uid).status_code == 303
    mail = [m for m in outbox() if m.to == member.email][-1]
    passed = submit_email_code(client, uid, code_in_mail(mail.text))
    claims = id_token_claims(client, to_client(client, passed), request)
    assert claims["amr"] == ["pwd", "otp", "mfa"]


@pytest.mark.settings(outbound={"max_attempts": 2})
def test_a_text_whose_code_is_no_longer_usable_is_not_sent_when_the_gateway_returns(
    app, client, rp, make_member, gateway, moving_clock
):
    member, _ = sms_member(app, make_member, gateway)
    gateway.status = 503
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_sms_code(client, uid)
    drain(app)
    tries = len(gateway.sent_to(PHONE))
    moving_clock.advance(301)  # the code expired meanwhile
    gateway.status = 200
    run_due(app)
    assert len(gateway.sent_to(PHONE)) == tries  # an expired code is not worth a text


def assert_no_code_logged(caplog, code: str) -> None:
    for record in caplog.records:
        assert code not in record.getMessage(), record.getMessage()
        for name, value in vars(record).items():
            assert code not in str(value), (name, record.getMessage())
