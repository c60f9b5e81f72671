"""The profile pages: contact details and language, email change (applied only after the new
address confirms), password change (only with the current one)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent, Member
from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import (
    EMAIL_CHANGE_LINK,
    links_in,
    sign_in_to_account,
    submit,
)
from tests.helpers.oidc import (
    ISSUER,
    AuthorizationRequest,
    Browser,
    code_from,
    csrf_token,
    exchange_code,
    path_of,
)

NEW_PASSWORD = "seven purple lanterns over Bandung"
NEW_EMAIL = "siti.baru@example.test"
RESET_LINK = re.compile(r"https?://[^/\s\"'<>]+/recovery/reset/[A-Za-z0-9_\-]+")


@pytest.fixture
def member(make_member):
    return make_member(full_name="Siti Rahayu", email="siti@example.test", locale="en")


@pytest.fixture
def signed_in(client, member):
    sign_in_to_account(client, member.email, DEMO_PASSWORD)
    return client


def stored(app, member_id: int) -> Member:
    with app.app_context():
        db = get_session()
        found = db.get(Member, member_id)
        db.expunge(found)
        return found


def events(app) -> list[AuditEvent]:
    with app.app_context():
        db = get_session()
        found = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        for event in found:
            db.expunge(event)
        return found


def login_result(app, rp, identifier: str, password: str):
    browser = app.test_client()
    started = Browser(browser).start(AuthorizationRequest(rp.client_id))
    return Browser(browser).login(started.headers["Location"], identifier, password)


# --- the profile page --------------------------------------------------------------------------


def test_the_profile_needs_a_sign_in(client, member):
    started = client.get("/account/profile")
    assert started.status_code == 303
    assert started.headers["Location"].startswith("/interaction/")
    refused = client.post("/account/profile/contact", data={"phone": "+6281234567890"})
    assert refused.status_code in (303, 400)


def test_name_and_membership_number_are_shown_read_only(signed_in, member):
    page = signed_in.get("/account/profile")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert 'data-testid="profile-name">Siti Rahayu<' in page.text
    assert f'data-testid="profile-membership-number">{member.membership_number}<' in page.text
    assert 'name="full_name"' not in page.text and 'name="membership_number"' not in page.text
    assert 'autocomplete="tel"' in page.text and 'autocomplete="street-address"' in page.text


def test_phone_and_address_are_saved(app, signed_in, member):
    saved = submit(
        signed_in,
        "/account/profile",
        "/account/profile/contact",
        {"phone": "0812-3456-7890", "address": "Jl. Merdeka No. 1\r\nJakarta Pusat 10110"},
    )
    assert saved.status_code == 303 and saved.headers["Location"] == "/account/profile"
    page = signed_in.get("/account/profile")
    assert 'data-testid="contact_saved"' in page.text
    assert 'value="+6281234567890"' in page.text
    after = stored(app, member.id)
    assert after.phone == "+6281234567890" and not after.phone_verified
    assert after.address == "Jl. Merdeka No. 1\nJakarta Pusat 10110"
    (event,) = [e for e in events(app) if e.event == "profile_updated"]
    assert event.member_id == member.id and event.ip_address == "127.0.0.1" and event.outcome == "success"
    assert json.loads(event.detail_json) == {"fields": ["phone", "address"]}

    cleared = submit(signed_in, "/account/profile", "/account/profile/contact", {"phone": "", "address": ""})
    assert cleared.status_code == 303
    assert stored(app, member.id).phone is None and stored(app, member.id).address is None


@pytest.mark.parametrize(
    "data, testid",
    [
        ({"phone": "12345", "address": ""}, "phone_invalid"),
        ({"phone": "+62 812 abc", "address": ""}, "phone_invalid"),
        ({"phone": "", "address": "x" * 501}, "address_invalid"),
        ({"phone": "", "address": "a\x07b"}, "address_invalid"),
    ],
)
def test_bad_contact_details_are_refused(app, signed_in, member, data, testid):
    answer = submit(signed_in, "/account/profile", "/account/profile/contact", data)
    assert answer.status_code == 400
    assert f'data-testid="{testid}"' in answer.text
    after = stored(app, member.id)
    assert after.phone is None and after.address is None


def test_an_address_of_500_characters_is_fine(app, signed_in, member):
    assert (
        submit(
            signed_in, "/account/profile", "/account/profile/contact", {"phone": "", "address": "y" * 500}
        ).status_code
        == 303
    )
    assert stored(app, member.id).address == "y" * 500


def test_a_post_without_csrf_token_changes_nothing(app, signed_in, member):
    refused = signed_in.post("/account/profile/contact", data={"phone": "+6281234567890", "address": ""})
    assert refused.status_code == 400
    assert stored(app, member.id).phone is None


def test_the_language_is_saved_and_used(app, signed_in, member):
    assert '<html lang="en"' in signed_in.get("/account/profile").text
    saved = submit(signed_in, "/account/profile", "/account/profile/language", {"locale": "id"})
    assert saved.status_code == 303
    assert stored(app, member.id).locale == "id"
    assert '<html lang="id"' in signed_in.get("/account/profile").text
    refused = submit(signed_in, "/account/profile", "/account/profile/language", {"locale": "fr"})
    assert refused.status_code == 400
    assert 'id="locale-error" role="alert"' in refused.text and 'aria-describedby="locale-error"' in refused.text
    assert stored(app, member.id).locale == "id"
    assert ("locale_changed", "success") in [(e.event, e.outcome) for e in events(app)]


# --- email change ------------------------------------------------------------------------------


def ask_email_change(client, email: str = NEW_EMAIL, password: str = DEMO_PASSWORD):
    return submit(
        client, "/account/profile/email", "/account/profile/email", {"email": email, "current_password": password}
    )


def test_email_change_applies_only_after_the_new_address_confirms(app, signed_in, member, outbox, rp):
    asked = ask_email_change(signed_in, "Siti.Baru@Example.test")
    assert asked.status_code == 303
    page = signed_in.get("/account/profile/email")
    assert 'data-testid="email_link_sent"' in page.text
    assert 'data-testid="email-pending"' in page.text and NEW_EMAIL in page.text

    mails = outbox()
    (notice,) = [mail for mail in mails if mail.to == "siti@example.test"]
    assert not EMAIL_CHANGE_LINK.search(notice.text)
    assert "s***@example.test" in notice.text and NEW_EMAIL not in notice.text
    (link,) = links_in(mails, EMAIL_CHANGE_LINK, to=NEW_EMAIL)
    assert link.startswith(f"{ISSUER}/account/profile/email/verify/")

    # Nothing changed yet: the old address still signs in, the new one does not.
    assert stored(app, member.id).email == "siti@example.test"
    assert login_result(app, rp, NEW_EMAIL, DEMO_PASSWORD).status_code == 401

    # Opening the link (another device, no sign-in) shows a button and consumes nothing.
    phone = app.test_client()
    for _ in range(2):
        confirm_page = phone.get(path_of(link))
        assert confirm_page.status_code == 200
        assert confirm_page.headers["Cache-Control"] == "no-store"
        assert confirm_page.headers["Referrer-Policy"] == "no-referrer"
    assert stored(app, member.id).email == "siti@example.test"

    done = phone.post(path_of(link), data={"csrf_token": csrf_token(confirm_page.text)})
    assert done.status_code == 200 and 'data-testid="email_changed"' in done.text
    after = stored(app, member.id)
    assert after.email == NEW_EMAIL and after.email_verified

    # The old address no longer signs in (the generic answer); the new one does.
    old = login_result(app, rp, "siti@example.test", DEMO_PASSWORD)
    assert old.status_code == 401 and 'data-testid="login_failed"' in old.text
    request = AuthorizationRequest(rp.client_id)
    assert code_from(Browser(app.test_client()).sign_in(request, NEW_EMAIL, DEMO_PASSWORD), request)

    # Single use.
    again = phone.post(path_of(link), data={"csrf_token": csrf_token(confirm_page.text)})
    assert again.status_code == 400 and 'data-testid="verification_link_unusable"' in again.text
    outcomes = [(e.event, e.outcome) for e in events(app)]
    assert ("email_change_requested", "link_sent") in outcomes and ("email_changed", "success") in outcomes


def test_email_change_needs_the_current_password(app, signed_in, member, outbox):
    refused = ask_email_change(signed_in, password="not my password at all")
    assert refused.status_code == 400
    assert 'data-testid="current_password_wrong"' in refused.text
    assert outbox() == []
    assert ("password_check", "failure") in [(e.event, e.outcome) for e in events(app)]


@pytest.mark.settings(lockout={"max_failures": 3})
def test_guessing_the_current_password_locks_the_account(app, signed_in, member):
    answers = [ask_email_change(signed_in, password=f"wrong guess number {n}") for n in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 423]
    locked = ask_email_change(signed_in)  # the right password is not even checked now
    assert locked.status_code == 423 and 'data-testid="account_locked"' in locked.text
    # A lock does not end the session.
    assert signed_in.get("/account/profile").status_code == 200


def test_email_change_refuses_bad_or_same_addresses(signed_in, outbox):
    assert 'data-testid="email_invalid"' in ask_email_change(signed_in, "not-an-address").text
    same = ask_email_change(signed_in, "SITI@example.test")
    assert same.status_code == 400 and 'data-testid="email_unchanged"' in same.text
    assert outbox() == []


def test_an_address_of_another_account_gets_a_notice_and_the_same_answer(app, signed_in, member, make_member, outbox):
    make_member(email="taken@example.test", locale="en")
    asked = ask_email_change(signed_in, "taken@example.test")
    assert asked.status_code == 303
    assert 'data-testid="email_link_sent"' in signed_in.get("/account/profile/email").text
    mails = outbox()
    assert not links_in(mails, EMAIL_CHANGE_LINK)
    (notice,) = [mail for mail in mails if mail.to == "taken@example.test"]
    assert "already belongs to an account" in notice.text
    assert [mail.to for mail in mails if mail.to == "siti@example.test"]  # the owner's notice too
    assert stored(app, member.id).email == "siti@example.test"


def test_a_newer_request_voids_the_older_link(app, signed_in, outbox):
    ask_email_change(signed_in, "first@example.test")
    ask_email_change(signed_in, "second@example.test")
    (first,) = links_in(outbox(), EMAIL_CHANGE_LINK, to="first@example.test")
    assert app.test_client().get(path_of(first)).status_code == 400


def test_the_address_is_checked_again_at_confirmation(app, signed_in, member, make_member, outbox):
    ask_email_change(signed_in)
    (link,) = links_in(outbox(), EMAIL_CHANGE_LINK, to=NEW_EMAIL)
    make_member(email=NEW_EMAIL)  # someone else got the address meanwhile
    phone = app.test_client()
    page = phone.get(path_of(link))
    taken = phone.post(path_of(link), data={"csrf_token": csrf_token(page.text)})
    assert taken.status_code == 409 and 'data-testid="email_taken"' in taken.text
    assert stored(app, member.id).email == "siti@example.test"


def test_reset_links_sent_to_the_old_address_stop_working(app, signed_in, member, outbox):
    forgot = app.test_client()
    submit(forgot, "/recovery/forgot", "/recovery/forgot", {"identifier": "siti@example.test"})
    (reset_link,) = [m for m in (RESET_LINK.search(mail.text) for mail in outbox()) if m]
    ask_email_change(signed_in)
    (link,) = links_in(outbox(), EMAIL_CHANGE_LINK, to=NEW_EMAIL)
    phone = app.test_client()
    phone.post(path_of(link), data={"csrf_token": csrf_token(phone.get(path_of(link)).text)})
    assert stored(app, member.id).email == NEW_EMAIL
    assert app.test_client().get(path_of(reset_link.group(0))).status_code == 400


# --- password change ---------------------------------------------------------------------------


def change_password(client, current: str = DEMO_PASSWORD, new: str = NEW_PASSWORD, confirm: str | None = None):
    return submit(
        client,
        "/account/profile/password",
        "/account/profile/password",
        {"current_password": current, "password": new, "confirm": new if confirm is None else confirm},
    )


def test_password_change_needs_the_current_password(app, signed_in, member, outbox):
    page = signed_in.get("/account/profile/password")
    for autocomplete in ('autocomplete="current-password"', 'autocomplete="new-password"'):
        assert autocomplete in page.text
    refused = change_password(signed_in, current="this is not it at all")
    assert refused.status_code == 400 and 'data-testid="current_password_wrong"' in refused.text
    assert stored(app, member.id).password_hash == member.password_hash
    assert outbox() == []


def test_password_change_applies_the_policy(app, signed_in, member):
    for new, reason in (("too short", "too_short"), ("password1234", "common"), ("x" * 129, "too_long")):
        answer = change_password(signed_in, new=new)
        assert answer.status_code == 400 and f'data-reason="{reason}"' in answer.text, reason
    mismatch = change_password(signed_in, confirm="something else entirely")
    assert 'data-testid="password_mismatch"' in mismatch.text
    assert stored(app, member.id).password_hash == member.password_hash


def test_password_change_ends_other_sessions_and_keeps_this_one(app, client, member, outbox, make_client, rp):
    sign_in_to_account(client, member.email, DEMO_PASSWORD)
    other = app.test_client()
    sign_in_to_account(other, member.email, DEMO_PASSWORD)
    # An access token issued before the change.
    third, secret = make_client(first_party=True)
    request = AuthorizationRequest(third.client_id)
    holder = app.test_client()
    location = Browser(holder).sign_in(request, member.email, DEMO_PASSWORD)
    access_token = exchange_code(holder, code_from(location, request), request, secret=secret).json["access_token"]
    before = client.get_cookie("idp_session").value

    changed = change_password(client)
    assert changed.status_code == 303
    page = client.get("/account/profile/password")
    assert page.status_code == 200 and 'data-testid="password_changed"' in page.text
    # This browser: still signed in, under a new session id; the old id is dead.
    after = client.get_cookie("idp_session").value
    assert after != before
    replay = app.test_client()
    replay.set_cookie("idp_session", before)
    assert replay.get("/account/").status_code == 303
    # Every other browser is signed out, and the token issued before is refused.
    assert other.get("/account/").status_code == 303
    assert holder.get("/account/").status_code == 303
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code == 401

    assert login_result(app, rp, member.email, DEMO_PASSWORD).status_code == 401
    request = AuthorizationRequest(rp.client_id)
    assert code_from(Browser(app.test_client()).sign_in(request, member.email, NEW_PASSWORD), request)
    notices = [mail for mail in outbox() if mail.to == member.email]
    assert len(notices) == 1
    assert NEW_PASSWORD not in notices[0].text
    details = " ".join(e.detail_json for e in events(app))
    assert NEW_PASSWORD not in details and DEMO_PASSWORD not in details
