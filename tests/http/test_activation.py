"""Self-activation through the hosted pages: membership number, NIK and birth date, then email
and password, then the link in the mail; only then can the member sign in."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent, EmailVerificationToken, Member
from idp.security.tokens import digest
from idp.services.outbound import drain
from tests.helpers.account import ACTIVATION_LINK, links_in, sign_in_to_account, submit
from tests.helpers.oidc import (
    ISSUER,
    AuthorizationRequest,
    Browser,
    code_from,
    csrf_token,
    exchange_code,
    path_of,
)

PASSWORD = "seven purple lanterns over Bandung"
BIRTH_DATE = date(1985, 6, 15)
NEW_EMAIL = "rina@example.test"


@pytest.fixture
def record(make_member):
    """A membership record loaded by the employer: no online account, no email."""
    return make_member(
        password=None,
        email=None,
        email_verified=False,
        membership_number="12345678901",
        nik="3171234567890001",
        full_name="Rina Wulandari",
        birth_date=BIRTH_DATE,
        locale="en",
    )


def enter_record(client, number: str, nik: str, birth_date: str, **options):
    return submit(
        client, "/activate", "/activate", {"membership_number": number, "nik": nik, "birth_date": birth_date}, **options
    )


def enter_account(client, email: str = NEW_EMAIL, password: str = PASSWORD, confirm: str | None = None):
    return submit(
        client,
        "/activate/account",
        "/activate/account",
        {"email": email, "password": password, "confirm": password if confirm is None else confirm},
    )


def activate_until_mail(client, record, email: str = NEW_EMAIL):
    verified = enter_record(client, record.membership_number, record.nik, record.birth_date.isoformat())
    assert verified.status_code == 303, verified.text[:500]
    assert verified.headers["Location"] == "/activate/account"
    sent = enter_account(client, email)
    assert sent.status_code == 303, sent.text[:1000]
    assert sent.headers["Location"] == "/activate/sent"
    page = client.get("/activate/sent")
    assert 'data-testid="activation_link_sent"' in page.text
    return page


def activation_links(outbox, to: str = NEW_EMAIL) -> list[str]:
    return links_in(outbox(), ACTIVATION_LINK, to=to)


def confirm(client, link: str):
    page = client.get(path_of(link))
    if page.status_code != 200:
        return page
    return client.post(path_of(link), data={"csrf_token": csrf_token(page.text)})


def stored(app, membership_number: str) -> Member:
    with app.app_context():
        db = get_session()
        member = db.scalar(select(Member).where(Member.membership_number == membership_number))
        db.expunge(member)
        return member


def login_attempt(client, rp, identifier: str, password: str):
    started = Browser(client).start(AuthorizationRequest(rp.client_id))
    return Browser(client).login(started.headers["Location"], identifier, password)


# --- the whole way, with the mail through a real SMTP server ----------------------------------


def test_activation_end_to_end_through_smtp_then_sign_in(smtp_app, smtp_client, smtp_server, record, rp):
    client = smtp_client
    # The link in the mail is built from the configured issuer, whatever Host the browser used.
    verified = enter_record(
        client, "1234-5678-901", "3171 2345 6789 0001", "1985-06-15", base_url="http://attacker.example"
    )
    assert verified.status_code == 303, verified.text[:500]
    account_page = client.get("/activate/account", base_url="http://attacker.example")
    assert account_page.status_code == 200
    assert account_page.headers["Cache-Control"] == "no-store"
    for autocomplete in ('autocomplete="email"', 'autocomplete="new-password"'):
        assert autocomplete in account_page.text
    sent = client.post(
        "/activate/account",
        data={
            "csrf_token": csrf_token(account_page.text),
            "email": "Rina@Example.test",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
        base_url="http://attacker.example",
    )
    assert sent.status_code == 303, sent.text[:500]

    drain(smtp_app)
    (mail,) = smtp_server.wait_for(1)
    assert mail.to == NEW_EMAIL
    assert mail.envelope_to == (NEW_EMAIL,)
    (link,) = links_in([mail], ACTIVATION_LINK)
    assert link.startswith(f"{ISSUER}/activate/verify/")
    token = ACTIVATION_LINK.search(link).group("token")
    assert len(token) >= 43  # 256 bits

    # Only a digest of the token is stored; the address waits on the link, not on the member.
    with smtp_app.app_context():
        db = get_session()
        (row,) = db.scalars(select(EmailVerificationToken)).all()
        assert row.token_digest == digest(token) and token not in (row.token_digest, row.email)
        member = db.scalar(select(Member).where(Member.membership_number == record.membership_number))
        assert member.activation_pending and member.password_hash and member.email is None

    # Opening the link shows a confirm button; the page leaks the token to no one.
    page = client.get(path_of(link))
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert 'data-testid="activation-confirm-form"' in page.text
    done = client.post(path_of(link), data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 200
    assert 'data-testid="activation_done"' in done.text

    member = stored(smtp_app, record.membership_number)
    assert member.email == NEW_EMAIL and member.email_verified and not member.activation_pending

    # No automatic sign-in: the member signs in through the hosted login, like anyone.
    assert client.get("/account/").status_code == 303
    request = AuthorizationRequest(rp.client_id)
    location = Browser(smtp_app.test_client()).sign_in(request, NEW_EMAIL, PASSWORD)
    assert code_from(location, request)
    other = AuthorizationRequest(rp.client_id)
    browser = smtp_app.test_client()
    location = Browser(browser).sign_in(other, record.membership_number, PASSWORD)
    tokens = exchange_code(browser, code_from(location, other), other)
    assert tokens.status_code == 200, tokens.text


# --- step 1: one answer for every mismatch ------------------------------------------------------


def _normalized(html: str) -> str:
    html = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "CSRF", html)
    return re.sub(r'name="membership_number"([^>]*) value="[^"]*"', r'name="membership_number"\1 value=""', html)


def test_every_mismatch_gets_the_identical_neutral_answer(app, record, make_member, outbox):
    other = make_member(password=None, email=None, email_verified=False, birth_date=date(1970, 1, 1))
    attempts = {
        "wrong NIK": (record.membership_number, "3171234567890002", "1985-06-15"),
        "wrong birth date": (record.membership_number, record.nik, "1985-06-16"),
        "another record's number": (other.membership_number, record.nik, "1985-06-15"),
        "unknown number": ("98765432109", record.nik, "1985-06-15"),
        "everything wrong": ("98765432108", "3171000000000000", "2000-01-01"),
    }
    answers = {}
    for name, values in attempts.items():
        client = app.test_client()
        answer = enter_record(client, *values)
        assert answer.status_code == 400, (name, answer.status_code)
        assert 'data-testid="activation_mismatch"' in answer.text, name
        assert answer.headers["Cache-Control"] == "no-store"
        answers[name] = (answer.status_code, _normalized(answer.text), sorted(answer.headers.keys()))
        # Nothing is reachable after a mismatch.
        assert client.get("/activate/account").headers["Location"] == "/activate"
    assert len({json.dumps(answer) for answer in answers.values()}) == 1, answers.keys()
    assert outbox() == []


def test_the_nik_and_birth_date_are_not_sent_back_or_logged(app, client, record):
    answer = enter_record(client, record.membership_number, "3171234567890009", "1985-06-15")
    assert "3171234567890009" not in answer.text and "1985-06-15" not in answer.text
    with app.app_context():
        details = " ".join(e.detail_json for e in get_session().scalars(select(AuditEvent)))
        events = [(e.event, e.outcome) for e in get_session().scalars(select(AuditEvent))]
    assert ("activation_check", "mismatch") in events
    assert record.nik not in details and "3171234567890009" not in details and record.membership_number not in details


def test_badly_formed_values_are_refused_before_any_lookup(client, record):
    for values in (("1234", record.nik, "1985-06-15"), (record.membership_number, "123", "1985-06-15")):
        answer = enter_record(client, *values)
        assert answer.status_code == 400
        assert 'data-testid="activation_invalid"' in answer.text
    answer = enter_record(client, record.membership_number, record.nik, "1985-02-30")
    assert 'data-testid="activation_invalid"' in answer.text


@pytest.mark.settings(ratelimit={"activation_per_ip": "100 per minute"})
@pytest.mark.parametrize("subject", ["record", "unknown"])
def test_failures_lock_the_record_or_the_typed_number_alike(app, client, record, subject, outbox):
    number = record.membership_number if subject == "record" else "98765432109"
    for _ in range(5):
        answer = enter_record(client, number, "3171234567890009", "1985-06-15")
        assert answer.status_code in (400, 423)
    assert 'data-testid="activation_locked"' in answer.text  # the fifth failure starts the lock
    # Locked: even the right values are not compared, and the page is the same for both.
    locked = enter_record(client, number, record.nik, "1985-06-15")
    assert locked.status_code == 423
    assert 'data-testid="activation_locked"' in locked.text
    assert "activation_mismatch" not in locked.text
    assert client.get("/activate/account").headers["Location"] == "/activate"


@pytest.mark.settings(ratelimit={"activation_per_ip": "100 per minute"})
def test_the_lock_ends_and_then_the_right_values_pass(client, record, moving_clock):
    for _ in range(5):
        enter_record(client, record.membership_number, "3171234567890009", "1985-06-15")
    moving_clock.advance(301)
    verified = enter_record(client, record.membership_number, record.nik, "1985-06-15")
    assert verified.status_code == 303


def test_step_one_is_rate_limited_per_ip(client, record):
    statuses = [enter_record(client, "98765432109", "3171234567890009", "1985-06-15").status_code for _ in range(6)]
    assert statuses[-1] == 429, statuses


def test_posts_without_csrf_token_are_refused(client, record):
    answer = client.post(
        "/activate", data={"membership_number": record.membership_number, "nik": record.nik, "birth_date": "1985-06-15"}
    )
    assert answer.status_code == 400
    assert client.get("/activate/account").headers["Location"] == "/activate"


# --- an account that is already active ---------------------------------------------------------


def test_an_active_record_is_sent_to_sign_in_or_password_reset(app, client, make_member, outbox):
    active = make_member(nik="3171234567890077", birth_date=BIRTH_DATE)
    answer = enter_record(client, active.membership_number, active.nik, "1985-06-15")
    assert answer.status_code == 409
    assert 'data-testid="activation_already_active"' in answer.text
    assert 'href="/recovery/forgot"' in answer.text and 'href="/account/"' in answer.text
    # Step 2 stays closed; the account is untouched.
    assert client.get("/activate/account").headers["Location"] == "/activate"
    blind = submit(
        client, "/activate", "/activate/account", {"email": NEW_EMAIL, "password": PASSWORD, "confirm": PASSWORD}
    )
    assert blind.status_code == 303 and blind.headers["Location"] == "/activate"
    assert stored(app, active.membership_number).password_hash is not None
    assert outbox() == []


# --- step 2 -------------------------------------------------------------------------------------


def test_step_two_needs_step_one_in_the_same_browser(app, client, record):
    assert client.get("/activate/account").headers["Location"] == "/activate"
    verified = enter_record(client, record.membership_number, record.nik, "1985-06-15")
    assert verified.status_code == 303
    assert app.test_client().get("/activate/account").headers["Location"] == "/activate"
    assert client.get("/activate/account").status_code == 200


def test_step_one_rotates_the_session_id(client, record):
    client.get("/activate")
    assert client.get_cookie("idp_session") is None  # an anonymous page stores nothing
    before = client.get_cookie("idp_light").value
    enter_record(client, record.membership_number, record.nik, "1985-06-15")
    assert client.get_cookie("idp_session").value != before
    assert client.get_cookie("idp_light") is None


def test_step_two_expires(client, record, moving_clock):
    enter_record(client, record.membership_number, record.nik, "1985-06-15")
    moving_clock.advance(901)
    assert client.get("/activate/account").headers["Location"] == "/activate"


def test_the_password_policy_applies(client, record, outbox):
    enter_record(client, record.membership_number, record.nik, "1985-06-15")
    for password, reason in (
        ("short one", "too_short"),
        ("password1234", "common"),
        (f"x {record.nik} y", "contains_identifier"),
    ):
        answer = enter_account(client, password=password)
        assert answer.status_code == 400
        assert f'data-reason="{reason}"' in answer.text
    mismatch = enter_account(client, confirm="something else entirely")
    assert 'data-testid="password_mismatch"' in mismatch.text
    bad_email = enter_account(client, email="not-an-address")
    assert bad_email.status_code == 400
    assert outbox() == []


def test_an_address_of_another_account_gets_a_notice_and_the_same_page(app, client, record, make_member, outbox):
    owner = make_member(email="taken@example.test", locale="en")
    page = activate_until_mail(client, record, email="TAKEN@example.test")
    assert 'data-testid="activation_link_sent"' in page.text
    (mail,) = outbox()
    assert mail.to == "taken@example.test"
    assert not ACTIVATION_LINK.search(mail.text)
    assert "already belongs to an account" in mail.text
    assert f"{ISSUER}/recovery/forgot" in mail.text
    assert stored(app, owner.membership_number).email == "taken@example.test"
    assert stored(app, record.membership_number).email is None


# --- the link -----------------------------------------------------------------------------------


def test_sign_in_is_refused_with_the_generic_message_until_the_link_is_confirmed(app, client, record, rp, outbox):
    activate_until_mail(client, record)
    for identifier in (record.membership_number, NEW_EMAIL):
        refused = login_attempt(app.test_client(), rp, identifier, PASSWORD)
        wrong = login_attempt(app.test_client(), rp, identifier, "a wrong password, surely")
        assert refused.status_code == wrong.status_code == 401
        assert 'data-testid="login_failed"' in refused.text and 'data-testid="login_failed"' in wrong.text
    (link,) = activation_links(outbox)
    assert confirm(app.test_client(), link).status_code == 200
    assert sign_in_to_account(app.test_client(), NEW_EMAIL, PASSWORD)


def test_opening_the_link_consumes_nothing(app, client, record, outbox):
    activate_until_mail(client, record)
    (link,) = activation_links(outbox)
    scanner = app.test_client()
    for _ in range(3):
        assert scanner.get(path_of(link)).status_code == 200
    assert stored(app, record.membership_number).activation_pending
    assert confirm(app.test_client(), link).status_code == 200


def test_the_link_works_once(app, client, record, outbox):
    activate_until_mail(client, record)
    (link,) = activation_links(outbox)
    browser = app.test_client()
    page = browser.get(path_of(link))
    assert browser.post(path_of(link), data={"csrf_token": csrf_token(page.text)}).status_code == 200
    again = browser.post(path_of(link), data={"csrf_token": csrf_token(page.text)})
    assert again.status_code == 400
    assert 'data-testid="verification_link_unusable"' in again.text
    assert app.test_client().get(path_of(link)).status_code == 400


def test_the_link_expires_after_a_day(app, client, record, outbox, moving_clock):
    activate_until_mail(client, record)
    (link,) = activation_links(outbox)
    browser = app.test_client()
    assert browser.get(path_of(link)).status_code == 200
    moving_clock.advance(86400 + 1)
    assert browser.get(path_of(link)).status_code == 400
    # A fresh CSRF token (the browser session expired too): the link itself is refused.
    expired = submit(browser, "/activate", path_of(link), {})
    assert expired.status_code == 400 and 'data-testid="verification_link_unusable"' in expired.text
    assert stored(app, record.membership_number).activation_pending


def test_a_newer_link_voids_the_older_one(app, client, record, outbox):
    activate_until_mail(client, record)
    resent = submit(client, "/activate/sent", "/activate/resend", {})
    assert resent.status_code == 200 and 'data-testid="activation_link_resent"' in resent.text
    older, newer = activation_links(outbox)
    assert older != newer
    assert confirm(app.test_client(), older).status_code == 400
    assert confirm(app.test_client(), newer).status_code == 200


def test_starting_again_after_the_first_link_expired_voids_it(app, record, outbox, moving_clock):
    """While the first link works, nobody can start again (tests/http/test_abuse_activation.py)."""
    activate_until_mail(app.test_client(), record, email="first@example.test")
    moving_clock.advance(86400 + 1)
    activate_until_mail(app.test_client(), record, email="second@example.test")
    (first,) = activation_links(outbox, to="first@example.test")
    (second,) = activation_links(outbox, to="second@example.test")
    assert confirm(app.test_client(), first).status_code == 400
    assert confirm(app.test_client(), second).status_code == 200
    assert stored(app, record.membership_number).email == "second@example.test"


def test_an_unknown_token_gets_the_same_unusable_page(client):
    for token in ("x" * 43, "y" * 200):
        answer = client.get(f"/activate/verify/{token}")
        assert answer.status_code == 400
        assert 'data-testid="verification_link_unusable"' in answer.text
        assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_once_active_the_flow_is_closed(app, client, record, outbox):
    activate_until_mail(client, record)
    (link,) = activation_links(outbox)
    confirm(app.test_client(), link)
    again = enter_record(app.test_client(), record.membership_number, record.nik, "1985-06-15")
    assert again.status_code == 409 and 'data-testid="activation_already_active"' in again.text


def test_the_flow_is_audited(app, client, record, outbox):
    activate_until_mail(client, record)
    (link,) = activation_links(outbox)
    confirm(app.test_client(), link)
    with app.app_context():
        events = [
            (e.event, e.outcome, e.member_id) for e in get_session().scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
        details = " ".join(e.detail_json for e in get_session().scalars(select(AuditEvent)))
    member_id = stored(app, record.membership_number).id
    for expected in (
        ("activation_check", "verified", member_id),
        ("activation_account", "link_sent", member_id),
        ("activation_completed", "success", member_id),
    ):
        assert expected in events
    token = ACTIVATION_LINK.search(link).group("token")
    assert token not in details and PASSWORD not in details and NEW_EMAIL not in details


@pytest.mark.settings(ratelimit={"email_per_identifier": "2 per hour", "activation_per_ip": "100 per minute"})
def test_mailing_the_link_again_is_limited_per_address_silently(app, client, record, outbox):
    activate_until_mail(client, record)
    answers = [submit(client, "/activate/sent", "/activate/resend", {}) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].text.count("activation_link_resent") == answers[1].text.count("activation_link_resent") == 1
    assert len(activation_links(outbox)) == 2  # the third mail to the address was dropped


def test_confirming_needs_the_csrf_token(app, client, record, outbox):
    activate_until_mail(client, record)
    (link,) = activation_links(outbox)
    browser = app.test_client()
    browser.get(path_of(link))
    assert browser.post(path_of(link), data={}).status_code == 400
    assert stored(app, record.membership_number).activation_pending
    assert confirm(browser, link).status_code == 200


def test_the_resend_button_needs_step_two_in_this_browser(app, client, record, outbox):
    activate_until_mail(client, record)
    stranger = app.test_client()
    page = stranger.get("/activate/sent")
    assert 'data-testid="activation-resend-form"' not in page.text
    answer = submit(stranger, "/activate", "/activate/resend", {})
    assert answer.status_code == 303
    assert len(activation_links(outbox)) == 1
