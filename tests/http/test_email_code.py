"""Sign-in codes by email, received by a real SMTP server (aiosmtpd): 6 digits, 10 minutes,
single use, bound to the sign-in, 5 tries, one new code a minute voiding the earlier ones."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import EmailCode
from idp.services.assurance import ACR_PASSWORD_EMAIL_CODE
from idp.services.outbound import drain
from tests.helpers.oidc import AuthorizationRequest
from tests.helpers.second_factor import (
    code_in_mail,
    id_token_claims,
    member_with_email_factor,
    send_email_code,
    submit_email_code,
    to_challenge,
    to_client,
)

SUBJECT = "Your sign-in code"
CODE_LINE = re.compile(r"(?<![\d.])\d{6}(?![\d.])")


def is_code_mail(mail) -> bool:
    """A sign-in code mail, in whatever language: the only mail with six digits on their own."""
    return bool(CODE_LINE.search(mail.text))


# Several codes per test: the per-recipient and per-IP mail limits are tested elsewhere.
pytestmark = pytest.mark.settings(
    ratelimit={"email_per_identifier": "100 per hour", "email_code_per_ip": "100 per minute"}
)


@pytest.fixture
def app(smtp_app):
    """The app sends its mail through ``smtp_server``; the factories use the same database."""
    return smtp_app


def codes_received(smtp_server, member, count: int) -> list[str]:
    """The codes mailed to the member so far (waiting for ``count`` of them), oldest first."""
    deadline = time.monotonic() + 10
    while True:
        mails = [mail for mail in smtp_server.to(member.email) if is_code_mail(mail)]
        if len(mails) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(mails) >= count, f"expected {count} code mails, got {len(mails)}"
    return [code_in_mail(mail.text) for mail in mails]


def test_a_code_arrives_by_smtp_and_signs_in_at_the_email_level(app, client, rp, make_member, smtp_server):
    member, _ = member_with_email_factor(app, make_member, locale="en")
    request = AuthorizationRequest(rp.client_id)
    uid = to_challenge(client, request, member)

    # No authenticator app: the challenge goes to the email page, which sends nothing by itself.
    challenge = client.get(f"/interaction/{uid}/second-factor")
    assert challenge.status_code == 303 and challenge.headers["Location"].endswith("/email-code")
    page = client.get(f"/interaction/{uid}/email-code")
    assert 'data-testid="email-send"' in page.text and 'data-testid="email-code-form"' not in page.text
    assert 'data-testid="use-recovery"' in page.text

    sent = send_email_code(client, uid)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/email-code")
    (code,) = codes_received(smtp_server, member, 1)
    mail = next(m for m in smtp_server.to(member.email) if is_code_mail(m))
    assert mail.subject == SUBJECT
    assert len(code) == 6 and code.isdigit()
    assert "Klaim Online" in mail.text and "Klaim Online" in mail.html  # which site asked
    assert "10 minutes" in mail.text
    assert code in mail.html
    assert '<html lang="en">' in mail.html
    page = client.get(f"/interaction/{uid}/email-code")
    assert 'data-testid="email-sent"' in page.text
    field = page.text[page.text.index('name="code"') - 200 : page.text.index('name="code"') + 200]
    assert 'autocomplete="one-time-code"' in field and 'inputmode="numeric"' in field

    passed = submit_email_code(client, uid, code)
    assert passed.status_code == 303
    claims = id_token_claims(client, to_client(client, passed), request)
    assert claims["acr"] == ACR_PASSWORD_EMAIL_CODE
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_the_mail_is_in_the_members_language(app, client, rp, make_member, smtp_server):
    member, _ = member_with_email_factor(app, make_member, locale="id")
    uid = to_challenge(client, AuthorizationRequest(rp.client_id, extra={"ui_locales": "en"}), member)
    send_email_code(client, uid)
    codes_received(smtp_server, member, 1)
    mail = [m for m in smtp_server.to(member.email) if is_code_mail(m)][-1]
    assert '<html lang="id">' in mail.html  # the member's language, not the page's


def test_the_code_is_stored_only_as_a_keyed_digest(app, client, rp, make_member, smtp_server):
    member, _ = member_with_email_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_email_code(client, uid)
    (code,) = codes_received(smtp_server, member, 1)
    with app.app_context():
        record = get_session().scalars(select(EmailCode)).one()
        assert record.transaction == uid
        assert code not in record.code_digest
        assert record.code_digest != hashlib.sha256(code.encode()).hexdigest()
        assert (record.expires_at - record.created_at).total_seconds() == 600


def test_a_code_expires_after_ten_minutes(app, client, rp, make_member, smtp_server, moving_clock):
    member, _ = member_with_email_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_email_code(client, uid)
    (code,) = codes_received(smtp_server, member, 1)
    moving_clock.advance(601)
    expired = submit_email_code(client, uid, code)
    assert expired.status_code == 401 and 'data-testid="code_expired"' in expired.text


@pytest.mark.settings(lockout={"max_failures": 50})
def test_five_wrong_tries_void_the_code(app, client, rp, make_member, smtp_server):
    member, _ = member_with_email_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_email_code(client, uid)
    (code,) = codes_received(smtp_server, member, 1)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        answer = submit_email_code(client, uid, wrong)
        assert answer.status_code == 401 and 'data-testid="code_wrong"' in answer.text
    exhausted = submit_email_code(client, uid, code)
    assert exhausted.status_code == 401 and 'data-testid="code_exhausted"' in exhausted.text


def test_wrong_codes_count_toward_the_second_factor_lockout(app, client, rp, make_member, smtp_server):
    member, _ = member_with_email_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_email_code(client, uid)
    (code,) = codes_received(smtp_server, member, 1)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    statuses = [submit_email_code(client, uid, wrong).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]
    locked = submit_email_code(client, uid, code)
    assert locked.status_code == 423 and 'data-testid="second_factor_locked"' in locked.text
    # While locked, no new code is even sent.
    assert send_email_code(client, uid).status_code == 423


def test_one_new_code_a_minute_and_it_voids_the_earlier_one(app, client, rp, make_member, smtp_server, moving_clock):
    member, _ = member_with_email_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert send_email_code(client, uid).status_code == 303
    (first,) = codes_received(smtp_server, member, 1)

    too_soon = send_email_code(client, uid)
    assert too_soon.status_code == 429 and 'data-testid="email_too_soon"' in too_soon.text
    # The clock is real time plus what the test adds: leave a few real seconds of slack.
    moving_clock.advance(55)
    assert send_email_code(client, uid).status_code == 429
    moving_clock.advance(6)
    assert send_email_code(client, uid).status_code == 303
    first_again, second = codes_received(smtp_server, member, 2)
    assert first_again == first

    if first != second:
        voided = submit_email_code(client, uid, first)
        assert voided.status_code == 401
    assert submit_email_code(client, uid, second).status_code == 303


def test_a_code_works_once_and_only_for_its_own_sign_in(app, rp, make_member, smtp_server):
    member, _ = member_with_email_factor(app, make_member)
    first, second = app.test_client(), app.test_client()
    uid_first = to_challenge(first, AuthorizationRequest(rp.client_id), member)
    uid_second = to_challenge(second, AuthorizationRequest(rp.client_id), member)
    send_email_code(first, uid_first)
    (code,) = codes_received(smtp_server, member, 1)

    # The other sign-in has no code of its own yet: this one is not for it.
    elsewhere = submit_email_code(second, uid_second, code)
    assert elsewhere.status_code == 401 and 'data-testid="code_none"' in elsewhere.text
    assert submit_email_code(first, uid_first, code).status_code == 303
    with app.app_context():
        assert get_session().scalars(select(EmailCode)).one().used_at is not None


@pytest.mark.settings(ratelimit={"email_codes_per_member": "2 per hour"})
def test_the_per_recipient_mail_limit_drops_extra_codes_silently(
    app, client, rp, make_member, smtp_server, moving_clock
):
    member, _ = member_with_email_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    answers = []
    for _ in range(3):
        answers.append(send_email_code(client, uid).status_code)
        moving_clock.advance(61)
    assert answers == [303, 303, 303]  # the same answer every time
    drain(app)
    assert len([m for m in smtp_server.to(member.email) if is_code_mail(m)]) == 2
