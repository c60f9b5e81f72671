"""Sign-in codes by SMS to the member's verified mobile number (outbox gateway): enrolment,
the text itself, sign-in at the configured level, resend, replay, expiry, tries and the
second-factor lockout, and the per-number budgets."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import EmailCode
from idp.services.assurance import ACR_PASSWORD_AUTHENTICATOR, ACR_PASSWORD_EMAIL_CODE
from idp.services.text_messages import gsm7_length
from tests.helpers.oidc import AuthorizationRequest, csrf_token
from tests.helpers.second_factor import id_token_claims, to_challenge, to_client
from tests.helpers.sms import (
    PHONE,
    WEBOTP_LINE,
    last_code,
    member_with_sms_factor,
    send_sms_code,
    submit_sms_code,
    texts,
)

pytestmark = pytest.mark.settings(ratelimit={"email_code_per_ip": "100 per minute"}, ui={"brand_name": "Klaim Online"})


def test_a_verified_number_is_enrolled_and_signs_in_at_the_email_level(app, client, rp, make_member):
    member, recovery = member_with_sms_factor(app, make_member, locale="en")
    assert len(recovery) == 10  # the first factor comes with recovery codes
    request = AuthorizationRequest(rp.client_id)
    uid = to_challenge(client, request, member)

    # Only codes by SMS: the challenge goes to the SMS page, which sends nothing by itself.
    challenge = client.get(f"/interaction/{uid}/second-factor")
    assert challenge.status_code == 303 and challenge.headers["Location"].endswith("/sms-code")
    before = len(texts(app, PHONE))
    page = client.get(f"/interaction/{uid}/sms-code")
    assert 'data-testid="sms-send"' in page.text and 'data-testid="sms-code-form"' not in page.text
    assert "+62 812" in page.text and PHONE not in page.text  # masked
    assert len(texts(app, PHONE)) == before

    sent = send_sms_code(client, uid)
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/sms-code")
    text = texts(app, PHONE)[-1]
    assert text.purpose == "sms_sign_in"
    page = client.get(f"/interaction/{uid}/sms-code")
    assert 'data-testid="sms-sent"' in page.text
    field = page.text[page.text.index('name="code"') - 200 : page.text.index('name="code"') + 200]
    assert 'autocomplete="one-time-code"' in field and 'inputmode="numeric"' in field

    passed = submit_sms_code(client, uid, text.code)
    assert passed.status_code == 303
    claims = id_token_claims(client, to_client(client, passed), request)
    assert claims["acr"] == ACR_PASSWORD_EMAIL_CODE
    assert claims["amr"] == ["pwd", "sms", "mfa"]


@pytest.mark.parametrize(
    ("locale", "words"),
    [("en", ["Klaim Online", "Never share"]), ("id", ["Klaim Online", "Jangan berikan"])],
)
def test_the_text_is_one_segment_in_the_members_language_and_ends_with_the_webotp_line(
    app, client, rp, make_member, locale, words
):
    member, _ = member_with_sms_factor(app, make_member, locale=locale)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id, extra={"ui_locales": "en"}), member)
    send_sms_code(client, uid)
    text = texts(app, PHONE)[-1]
    for word in words:
        assert word in text.text, text.text
    assert gsm7_length(text.text) is not None and gsm7_length(text.text) <= 160, text.text
    webotp = WEBOTP_LINE.search(text.text)
    assert webotp.group("host") == "idp.test" and text.text.endswith(f"@idp.test #{text.code}")


@pytest.mark.settings(ui={"brand_name": "Program Jaminan Sosial Ketenagakerjaan Nasional Republik Indonesia 🇮🇩 " * 2})
def test_a_long_or_unusual_brand_name_is_shortened_rather_than_need_a_second_segment(app, client, rp, make_member):
    member, _ = member_with_sms_factor(app, make_member, locale="id")
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_sms_code(client, uid)
    text = texts(app, PHONE)[-1].text
    assert text.startswith("Program Jaminan")
    assert gsm7_length(text) is not None and gsm7_length(text) <= 160, text
    assert "Jangan berikan" in text and WEBOTP_LINE.search(text)


def test_the_code_is_stored_only_as_a_keyed_digest_bound_to_the_number(app, client, rp, make_member):
    member, _ = member_with_sms_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_sms_code(client, uid)
    code = last_code(app)
    with app.app_context():
        record = get_session().scalar(select(EmailCode).where(EmailCode.transaction == uid, EmailCode.channel == "sms"))
        assert code not in record.code_digest and len(record.code_digest) == 64


@pytest.mark.settings(sms={"acr": ACR_PASSWORD_AUTHENTICATOR})
def test_the_operator_may_rank_sms_codes_with_apps(app, client, rp, make_member):
    member, _ = member_with_sms_factor(app, make_member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR})
    uid = to_challenge(client, request, member)
    send_sms_code(client, uid)
    passed = submit_sms_code(client, uid, last_code(app))
    claims = id_token_claims(client, to_client(client, passed), request)
    assert claims["acr"] == ACR_PASSWORD_AUTHENTICATOR
    assert "sms" in claims["amr"]


def test_by_default_sms_does_not_reach_the_app_level(app, client, rp, make_member):
    member, _ = member_with_sms_factor(app, make_member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR})
    uid = to_challenge(client, request, member)
    # The code by SMS only proves it is the member before they set up an app.
    page = client.get(f"/interaction/{uid}/sms-code")
    assert 'data-testid="sms-before-enrolment"' in page.text
    send_sms_code(client, uid)
    passed = submit_sms_code(client, uid, last_code(app))
    assert passed.status_code == 303 and passed.headers["Location"].endswith("/enrol")


def test_resend_waits_a_minute_and_the_newest_code_voids_the_older(app, client, rp, make_member, moving_clock):
    member, _ = member_with_sms_factor(app, make_member, locale="en")
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_sms_code(client, uid)
    first = last_code(app)
    too_soon = send_sms_code(client, uid)
    assert too_soon.status_code == 429 and 'data-testid="sms_too_soon"' in too_soon.text
    assert last_code(app) == first  # nothing sent
    moving_clock.advance(61)
    assert send_sms_code(client, uid).status_code == 303
    second = last_code(app)
    if second != first:
        refused = submit_sms_code(client, uid, first)
        assert refused.status_code == 401 and 'data-testid="code_wrong"' in refused.text
    assert submit_sms_code(client, uid, second).status_code == 303


def test_a_code_works_once_and_only_for_its_own_sign_in(app, rp, make_member):
    member, _ = member_with_sms_factor(app, make_member)
    first, second = app.test_client(), app.test_client()
    uid_first = to_challenge(first, AuthorizationRequest(rp.client_id), member)
    uid_second = to_challenge(second, AuthorizationRequest(rp.client_id), member)
    send_sms_code(first, uid_first)
    code = last_code(app)
    send_sms_code(second, uid_second)  # a code of its own (voids nothing of the first)
    other = submit_sms_code(second, uid_second, code)
    assert other.status_code == 401 or last_code(app) == code
    assert submit_sms_code(first, uid_first, code).status_code == 303
    # Replayed in the same browser's next sign-in: no live code there.
    replay_uid = to_challenge(first, AuthorizationRequest(rp.client_id, extra={"prompt": "login"}), member)
    replayed = submit_sms_code(first, replay_uid, code)
    assert replayed.status_code == 401 and 'data-testid="code_none"' in replayed.text


def test_a_code_expires(app, client, rp, make_member, moving_clock):
    member, _ = member_with_sms_factor(app, make_member, locale="en")
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_sms_code(client, uid)
    code = last_code(app)
    moving_clock.advance(301)  # sms.code_ttl_seconds
    expired = submit_sms_code(client, uid, code)
    assert expired.status_code == 401 and 'data-testid="code_expired"' in expired.text


@pytest.mark.settings(lockout={"max_failures": 20})
def test_five_wrong_tries_void_the_code(app, client, rp, make_member):
    member, _ = member_with_sms_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_sms_code(client, uid)
    code = last_code(app)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert submit_sms_code(client, uid, wrong).status_code == 401
    exhausted = submit_sms_code(client, uid, code)
    assert exhausted.status_code == 401 and 'data-testid="code_exhausted"' in exhausted.text


@pytest.mark.settings(lockout={"max_failures": 3})
def test_wrong_codes_count_toward_the_second_factor_lockout(app, client, rp, make_member):
    member, _ = member_with_sms_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    send_sms_code(client, uid)
    code = last_code(app)
    wrong = "000000" if code != "000000" else "111111"
    statuses = [submit_sms_code(client, uid, wrong).status_code for _ in range(3)]
    assert statuses == [401, 401, 423]
    locked = submit_sms_code(client, uid, code)  # not even checked while locked
    assert locked.status_code == 423 and 'data-testid="second_factor_locked"' in locked.text
    # And no new code is sent during the lock.
    before = len(texts(app))
    page = client.get(f"/interaction/{uid}/sms-code")
    client.post(f"/interaction/{uid}/sms-code/send", data={"csrf_token": csrf_token(page.text)})
    assert len(texts(app)) == before


@pytest.mark.settings(sms={"sign_in_per_number": "2 per hour", "code_resend_seconds": 10})
def test_the_sign_in_budget_of_a_number_is_its_own(app, client, rp, make_member, moving_clock):
    member, _ = member_with_sms_factor(app, make_member, locale="en")
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    for _ in range(2):
        assert send_sms_code(client, uid).status_code == 303
        texts(app)  # delivered before the next code voids it (a voided code's text is not sent)
        moving_clock.advance(11)
    refused = send_sms_code(client, uid)
    assert refused.status_code == 429 and 'data-testid="sms_budget"' in refused.text
    assert 'data-testid="use-recovery"' in refused.text  # another way in
    sign_in_texts = [text for text in texts(app, PHONE) if text.purpose == "sms_sign_in"]
    assert len(sign_in_texts) == 2


@pytest.mark.settings(sms={"sign_in_per_number": "1 per hour", "verification_per_number": "1 per hour"})
def test_verification_codes_and_sign_in_codes_do_not_share_a_budget(app, client, rp, make_member):
    # The verification text of member_with_sms_factor used the verification budget only.
    member, _ = member_with_sms_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert send_sms_code(client, uid).status_code == 303
    assert [text.purpose for text in texts(app, PHONE)] == ["sms_verification", "sms_sign_in"]


def test_nobody_without_the_password_can_make_idp_send_a_text(app, client, rp, make_member):
    member, _ = member_with_sms_factor(app, make_member)
    before = len(texts(app))
    started = client.get(AuthorizationRequest(rp.client_id).url())
    uid = started.headers["Location"].rsplit("/", 1)[-1]
    page = client.get(f"/interaction/{uid}")
    sent = client.post(f"/interaction/{uid}/sms-code/send", data={"csrf_token": csrf_token(page.text)})
    assert sent.status_code in (303, 400, 404, 410)
    assert len(texts(app)) == before
