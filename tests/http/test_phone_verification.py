"""A mobile number is used for codes only after the member verified it with a code sent to it:
on the profile page, and at activation when the membership record has a number. Then codes
by SMS on the Security page: adding, the fresh check by SMS, removing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import Member, SecondFactor
from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import sign_in_to_account, submit
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, path_of
from tests.helpers.second_factor import password_step, to_challenge
from tests.helpers.sms import (
    PHONE,
    last_code,
    member_with_sms_factor,
    submit_phone_code,
    texts,
    verify_phone_on_profile,
)

pytestmark = pytest.mark.settings(ratelimit={"email_code_per_ip": "100 per minute"})

OTHER_PHONE = "+6281298765432"


def save_phone(client, typed: str):
    return submit(client, "/account/profile", "/account/profile/contact", {"phone": typed, "address": ""})


def stored(app, member) -> Member:
    with app.app_context():
        found = get_session().get(Member, member.id)
        get_session().expunge(found)
        return found


def test_a_number_typed_the_indonesian_way_is_stored_in_e164_and_unverified(app, make_member):
    member = make_member(locale="en")
    browser = app.test_client()
    sign_in_to_account(browser, member)
    assert save_phone(browser, "0812-3456-7890").status_code == 303
    saved = stored(app, member)
    assert saved.phone == PHONE and saved.phone_verified is False
    # Not usable for codes yet: the Security page sends the member to verify it first.
    security = browser.get("/account/security/")
    assert 'data-testid="add-sms"' not in security.text
    assert 'data-testid="sms-needs-verified-number"' in security.text
    refused = browser.post("/account/security/sms", data={"csrf_token": csrf_token(security.text)})
    assert refused.status_code == 303
    with app.app_context():
        assert get_session().scalars(select(SecondFactor)).all() == []
    profile = browser.get("/account/profile")
    assert 'data-testid="phone-unverified"' in profile.text and 'data-testid="phone-verify-form"' in profile.text


def test_the_number_is_verified_with_a_code_sent_to_it(app, make_member):
    member = make_member(phone=PHONE, locale="en")
    browser = app.test_client()
    sign_in_to_account(browser, member)
    profile = browser.get("/account/profile")
    sent = browser.post("/account/profile/phone/send", data={"csrf_token": csrf_token(profile.text)})
    assert sent.status_code == 303
    (text,) = texts(app, PHONE)
    assert text.purpose == "sms_verification" and "verify this number" in text.text
    page = browser.get("/account/profile/phone")
    field = page.text[page.text.index('name="code"') - 200 : page.text.index('name="code"') + 200]
    assert 'autocomplete="one-time-code"' in field

    wrong = submit_phone_code(browser, "000000" if text.code != "000000" else "111111")
    assert wrong.status_code == 401 and 'data-testid="code_wrong"' in wrong.text
    assert stored(app, member).phone_verified is False
    right = submit_phone_code(browser, text.code)
    assert right.status_code == 303 and right.headers["Location"] == "/account/profile"
    assert 'data-testid="phone_verified"' in browser.get("/account/profile").text
    assert stored(app, member).phone_verified is True
    # Nothing is left to verify: the page sends the member back to the profile.
    assert browser.get("/account/profile/phone").headers["Location"] == "/account/profile"
    assert 'data-testid="add-sms"' in browser.get("/account/security/").text


def test_a_code_sent_to_one_number_does_not_verify_another(app, make_member):
    member = make_member(phone=PHONE, locale="en")
    browser = app.test_client()
    sign_in_to_account(browser, member)
    profile = browser.get("/account/profile")
    browser.post("/account/profile/phone/send", data={"csrf_token": csrf_token(profile.text)})
    code = last_code(app, PHONE)
    save_phone(browser, OTHER_PHONE)  # someone else's phone, say
    refused = submit_phone_code(browser, code)
    assert refused.status_code == 401
    assert stored(app, member).phone_verified is False


def test_a_changed_number_is_unverified_and_not_used_for_codes(app, make_member, rp):
    member, _ = member_with_sms_factor(app, make_member, locale="en")
    browser = app.test_client()
    uid = to_challenge(browser, AuthorizationRequest(rp.client_id), member)
    assert browser.get(f"/interaction/{uid}/second-factor").headers["Location"].endswith("/sms-code")
    with app.app_context():
        db = get_session()
        db.get(Member, member.id).phone = OTHER_PHONE  # as the import does for a new number
        db.get(Member, member.id).phone_verified = False
        db.commit()
    other = app.test_client()
    uid = to_challenge(other, AuthorizationRequest(rp.client_id), member)
    assert other.get(f"/interaction/{uid}/sms-code").status_code == 303  # not offered
    page = other.get(f"/interaction/{uid}/recovery")  # what is left: a recovery code
    assert 'data-testid="send-sms-code"' not in page.text
    sent = other.post(f"/interaction/{uid}/sms-code/send", data={"csrf_token": csrf_token(page.text)})
    assert sent.status_code in (303, 400)
    assert texts(app, OTHER_PHONE) == []


def test_with_codes_by_sms_the_number_changes_and_is_verified_only_after_the_fresh_check(
    app, make_member, moving_clock
):
    member, _ = member_with_sms_factor(app, make_member, locale="en")
    with app.app_context():
        from idp.services import second_factor
        from idp.services.audit import RequestOrigin

        db = get_session()
        second_factor.enable_email_factor(db, db.get(Member, member.id), RequestOrigin())
    browser = app.test_client()
    signed_in_with_sms(app, browser, member)
    # Just after the SMS check the number may change (it is unverified then).
    assert save_phone(browser, OTHER_PHONE).headers["Location"] == "/account/profile"
    assert stored(app, member).phone == OTHER_PHONE and stored(app, member).phone_verified is False
    moving_clock.advance(11 * 60)  # past security.fresh_check_minutes
    # Later, changing the number codes by SMS go to is a change of a factor: the fresh check first.
    changed = save_phone(browser, "+6281311112222")
    assert changed.status_code == 303 and changed.headers["Location"].startswith("/account/security/verify")
    assert stored(app, member).phone == OTHER_PHONE
    # And so is verifying the new number (it becomes the factor's).
    profile = browser.get("/account/profile")
    sent = browser.post("/account/profile/phone/send", data={"csrf_token": csrf_token(profile.text)})
    assert sent.status_code == 303 and sent.headers["Location"].startswith("/account/security/verify")
    assert texts(app, OTHER_PHONE) == []


def signed_in_with_sms(app, browser, member):
    """Sign in to the account pages through the SMS challenge."""
    started = browser.get("/account/")
    response = password_step_from(browser, started.headers["Location"], member)
    uid = path_of(response.headers["Location"]).split("/")[2]
    page = browser.get(f"/interaction/{uid}/sms-code")
    browser.post(f"/interaction/{uid}/sms-code/send", data={"csrf_token": csrf_token(page.text)})
    page = browser.get(f"/interaction/{uid}/sms-code")
    passed = browser.post(
        f"/interaction/{uid}/sms-code", data={"csrf_token": csrf_token(page.text), "code": last_code(app)}
    )
    assert passed.status_code == 303, passed.text[:500]
    for _ in range(6):
        if passed.status_code not in (302, 303):
            break
        passed = browser.get(path_of(passed.headers["Location"]))
    assert 'data-testid="account-summary"' in passed.text


def password_step_from(browser, location, member):
    response = Browser(browser).login(location, member.email, DEMO_PASSWORD)
    assert response.headers["Location"].endswith("/second-factor"), response.headers.get("Location")
    return response


def test_the_fresh_check_by_sms_and_removing_the_factor(app, make_member, moving_clock):
    member, _ = member_with_sms_factor(app, make_member, locale="en")
    browser = app.test_client()
    signed_in_with_sms(app, browser, member)
    moving_clock.advance(11 * 60)
    page = browser.get("/account/security/")
    (factor_id,) = re.findall(r'data-kind="sms" data-factor-id="(\d+)"', page.text)
    refused = browser.post(f"/account/security/factors/{factor_id}/remove", data={"csrf_token": csrf_token(page.text)})
    assert refused.headers["Location"].startswith("/account/security/verify")

    check = browser.get(path_of(refused.headers["Location"]))
    assert 'data-method="sms"' in check.text and 'data-testid="sms-send"' in check.text
    sent = browser.post(
        "/account/security/verify/sms/send?next=/account/security/", data={"csrf_token": csrf_token(check.text)}
    )
    assert sent.status_code == 303
    check = browser.get(path_of(sent.headers["Location"]))
    assert 'data-testid="sms-code-form"' in check.text
    passed = browser.post(
        "/account/security/verify/sms?next=/account/security/",
        data={"csrf_token": csrf_token(check.text), "code": last_code(app)},
    )
    assert passed.status_code == 303 and passed.headers["Location"] == "/account/security/"
    page = browser.get("/account/security/")
    removed = browser.post(f"/account/security/factors/{factor_id}/remove", data={"csrf_token": csrf_token(page.text)})
    assert removed.status_code == 303
    with app.app_context():
        assert get_session().scalars(select(SecondFactor)).all() == []


@pytest.mark.settings(security={"require_mfa": True})
def test_under_the_policy_a_member_with_a_verified_number_may_enrol_codes_by_sms(app, make_member, rp):
    member = make_member(phone=PHONE, locale="en")
    with app.app_context():
        db = get_session()
        db.get(Member, member.id).phone_verified = True  # verified earlier (activation, profile)
        db.commit()
    browser = app.test_client()
    logged_in = password_step(browser, AuthorizationRequest(rp.client_id), member)
    enrol = browser.get(path_of(browser.get(path_of(logged_in.headers["Location"])).headers["Location"]))
    assert 'data-testid="enrol-sms"' in enrol.text
    uid = path_of(logged_in.headers["Location"]).split("/")[2]
    done = browser.post(f"/interaction/{uid}/enrol/sms", data={"csrf_token": csrf_token(enrol.text)})
    assert done.status_code == 200 and 'data-testid="recovery-code"' in done.text
    page = browser.get(f"/interaction/{uid}/sms-code")
    browser.post(f"/interaction/{uid}/sms-code/send", data={"csrf_token": csrf_token(page.text)})
    page = browser.get(f"/interaction/{uid}/sms-code")
    passed = browser.post(
        f"/interaction/{uid}/sms-code", data={"csrf_token": csrf_token(page.text), "code": last_code(app)}
    )
    assert passed.status_code == 303


# --- at activation ------------------------------------------------------------------------------


@pytest.fixture
def record_with_phone(make_member):
    return make_member(
        password=None,
        email=None,
        email_verified=False,
        phone=PHONE,
        membership_number="12345678901",
        nik="3171234567890001",
        full_name="Rina Wulandari",
        locale="en",
    )


def test_at_activation_the_records_number_is_verified_with_a_code(app, client, record_with_phone):
    record = record_with_phone
    verified = submit(
        client,
        "/activate",
        "/activate",
        {"membership_number": record.membership_number, "nik": record.nik, "birth_date": record.birth_date.isoformat()},
    )
    assert verified.status_code == 303
    sent = submit(
        client,
        "/activate/account",
        "/activate/account",
        {
            "email": "rina@example.test",
            "password": "seven purple lanterns over Bandung",
            "confirm": "seven purple lanterns over Bandung",
        },
    )
    assert sent.headers["Location"] == "/activate/sent"
    page = client.get("/activate/sent")
    assert 'data-testid="activation-phone-offer"' in page.text and "+62 812" in page.text
    asked = client.post("/activate/phone/send", data={"csrf_token": csrf_token(page.text)})
    assert asked.status_code == 303 and asked.headers["Location"] == "/activate/phone"
    page = client.get("/activate/phone")
    done = client.post("/activate/phone", data={"csrf_token": csrf_token(page.text), "code": last_code(app)})
    assert done.status_code == 200 and 'data-testid="phone_verified"' in done.text
    assert stored(app, record).phone_verified is True


def test_activation_offers_no_verification_without_the_record_check(app, client, record_with_phone):
    page = client.get("/activate")
    asked = client.post("/activate/phone/send", data={"csrf_token": csrf_token(page.text)})
    assert asked.status_code == 303 and asked.headers["Location"] == "/activate/sent"
    assert texts(app) == []


# --- which factor comes first -------------------------------------------------------------------


def test_the_member_chooses_codes_by_sms_to_be_asked_for_before_the_app(app, make_member, rp):
    from tests.helpers.second_factor import enrol_totp, next_step

    member = make_member(phone=PHONE, locale="en")
    browser = app.test_client()
    sign_in_to_account(browser, member)
    verify_phone_on_profile(app, browser)
    enrol_totp(browser)  # the first factor: fresh from the sign-in
    next_step()
    page = browser.get("/account/security/")
    assert 'data-testid="prefer-factor-form"' not in page.text  # one factor: no order to choose
    with app.app_context():
        from idp.services import second_factor
        from idp.services.audit import RequestOrigin

        db = get_session()
        second_factor.enable_sms_factor(db, db.get(Member, member.id), RequestOrigin())
    page = browser.get("/account/security/")
    (sms_id,) = re.findall(r'data-kind="sms" data-factor-id="(\d+)"', page.text)
    challenge = app.test_client()
    uid = to_challenge(challenge, AuthorizationRequest(rp.client_id), member)
    first = challenge.get(f"/interaction/{uid}/second-factor")
    assert first.status_code == 200 and 'data-method="totp"' in first.text  # the strongest by default
    assert 'data-testid="send-sms-code"' in first.text

    chosen = browser.post(f"/account/security/factors/{sms_id}/prefer", data={"csrf_token": csrf_token(page.text)})
    assert chosen.status_code == 303
    page = browser.get("/account/security/")
    assert 'data-testid="factor_preferred"' in page.text and 'data-testid="factor-preferred"' in page.text
    other = app.test_client()
    uid = to_challenge(other, AuthorizationRequest(rp.client_id), member)
    first = other.get(f"/interaction/{uid}/second-factor")
    assert first.status_code == 303 and first.headers["Location"].endswith("/sms-code")
    assert 'data-testid="use-totp"' in other.get(f"/interaction/{uid}/sms-code").text


def test_only_ones_own_factor_can_be_preferred(app, make_member):
    owner, _ = member_with_sms_factor(app, make_member)
    with app.app_context():
        (factor,) = get_session().scalars(select(SecondFactor)).all()
        factor_id = factor.id
    intruder = make_member(locale="en")
    browser = app.test_client()
    sign_in_to_account(browser, intruder)
    page = browser.get("/account/security/")
    browser.post(f"/account/security/factors/{factor_id}/prefer", data={"csrf_token": csrf_token(page.text)})
    with app.app_context():
        assert get_session().get(SecondFactor, factor_id).preferred is False
