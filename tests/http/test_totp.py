"""Authenticator apps (TOTP): enrolment, the sign-in challenge, replay, drift and lockout."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent, SecondFactor
from idp.services.assurance import ACR_PASSWORD_AUTHENTICATOR
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, query_of
from tests.helpers.second_factor import (
    follow,
    id_token_claims,
    member_with_totp,
    next_step,
    secret_on,
    sign_in_to_account,
    submit_totp,
    to_challenge,
    to_client,
    totp_code,
)


def test_enrolment_shows_a_qr_code_and_the_key_and_needs_a_valid_code(app, client, make_member):
    member = make_member()
    sign_in_to_account(client, member)

    page = client.get("/account/security/totp")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"  # the key is a secret
    # The QR code is drawn by idp, as an SVG data: image (no external service, no inline style).
    qr = re.search(r'<img class="qr" src="([^"]+)"[^>]*data-testid="totp-qr"', page.text)
    assert qr and qr.group(1).startswith("data:image/svg+xml")
    assert "img-src 'self' data:" in page.headers["Content-Security-Policy"]
    assert "<svg" not in page.text and "style=" not in page.text
    seed = secret_on(page.text)
    assert re.fullmatch(r"[A-Z2-7]{32}", seed)  # base32, 160 bits
    code_field = re.search(r'<input[^>]*name="code"[^>]*>', page.text).group(0)
    assert 'autocomplete="one-time-code"' in code_field and 'inputmode="numeric"' in code_field

    wrong = client.post(
        "/account/security/totp", data={"csrf_token": csrf_token(page.text), "code": "000000", "label": ""}
    )
    assert wrong.status_code == 400 and 'data-testid="code_wrong"' in wrong.text
    with app.app_context():
        assert get_session().scalars(select(SecondFactor)).all() == []

    again = client.get("/account/security/totp")
    assert secret_on(again.text) == seed  # a reload shows the same key until it is confirmed
    done = client.post(
        "/account/security/totp",
        data={"csrf_token": csrf_token(again.text), "code": totp_code(seed), "label": "My phone"},
    )
    assert done.status_code == 200 and 'data-testid="totp_added"' in done.text
    listing = client.get("/account/security/")
    assert 'data-kind="totp"' in listing.text and "My phone" in listing.text

    with app.app_context():
        factor = get_session().scalars(select(SecondFactor)).one()
        assert factor.confirmed_at is not None
        # Encrypted at rest: the key is nowhere in the stored value.
        assert seed not in factor.secret_encrypted and seed.lower() not in factor.secret_encrypted.lower()


def test_sign_in_asks_for_the_app_code_and_issues_nothing_before(app, client, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    request = AuthorizationRequest(rp.client_id)
    before = client.get("/account/").status_code  # not signed in
    uid = to_challenge(client, request, member)
    page = client.get(f"/interaction/{uid}/second-factor")
    assert page.status_code == 200
    assert 'data-testid="second-factor-challenge" data-method="totp"' in page.text
    assert 'data-testid="send-email-code"' not in page.text  # no email factor enrolled
    assert 'data-testid="use-recovery"' in page.text

    # Skipping the step: the resume URL does not issue a code, and nobody is signed in.
    skipped = client.get(f"/authorize/resume/{uid}")
    assert skipped.status_code == 303 and skipped.headers["Location"] == f"/interaction/{uid}"
    assert client.get("/account/").status_code == before == 303
    # A new authorization request starts at the login page again: there is no session yet.
    again = client.get(AuthorizationRequest(rp.client_id, extra={"prompt": "none"}).url())
    assert query_of(again.headers["Location"])["error"] == "login_required"

    passed = submit_totp(client, uid, totp_code(seed))
    # The step answers the authorization request itself: straight back to the client.
    assert passed.status_code == 303
    assert passed.headers["Location"].startswith(request.redirect_uri + "?"), passed.headers["Location"]
    location = to_client(client, passed)
    claims = id_token_claims(client, location, request)
    assert claims["acr"] == ACR_PASSWORD_AUTHENTICATOR
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert abs(claims["auth_time"] - datetime.now(UTC).timestamp()) < 60
    assert client.get("/account/").status_code == 200  # signed in now


def test_the_password_step_rotates_the_session_id(app, client, rp, make_member):
    member, _, _ = member_with_totp(app, make_member)
    started = client.get(AuthorizationRequest(rp.client_id).url())
    # Anonymous so far: the signed light cookie (web.server_session), no stored session.
    before = client.get_cookie("idp_light").value
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert client.get_cookie("idp_light").value != before
    # A copy of the cookie from before the password step reaches neither pending sign-in:
    # the binding was renewed with the rotation and the interactions moved to the new one.
    fixated = app.test_client()
    fixated.set_cookie("idp_light", before)
    assert fixated.get(f"/interaction/{uid}/second-factor").status_code == 400
    assert fixated.get(started.headers["Location"]).status_code == 400
    assert client.get(f"/interaction/{uid}/second-factor").status_code == 200


def test_a_code_is_never_accepted_twice(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    first, second = app.test_client(), app.test_client()
    uid_first = to_challenge(first, AuthorizationRequest(rp.client_id), member)
    uid_second = to_challenge(second, AuthorizationRequest(rp.client_id), member)
    code = totp_code(seed)

    assert submit_totp(first, uid_first, code).status_code == 303
    replayed = submit_totp(second, uid_second, code)
    assert replayed.status_code == 401 and 'data-testid="code_wrong"' in replayed.text

    next_step()
    assert submit_totp(second, uid_second, totp_code(seed)).status_code == 303


def test_an_older_code_is_refused_after_a_newer_one(app, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    first, second = app.test_client(), app.test_client()
    uid_first = to_challenge(first, AuthorizationRequest(rp.client_id), member)
    uid_second = to_challenge(second, AuthorizationRequest(rp.client_id), member)
    # The app's clock runs a step ahead: its code is accepted...
    assert submit_totp(first, uid_first, totp_code(seed, steps=1)).status_code == 303
    # ...and then the current step's code, though within the window, is older: refused.
    assert submit_totp(second, uid_second, totp_code(seed)).status_code == 401


@pytest.mark.parametrize("steps", [-1, 1])
def test_one_step_of_drift_either_way_is_accepted(app, client, rp, make_member, steps):
    member, seed, _ = member_with_totp(app, make_member)
    next_step()  # the step before now must not be the one the enrolment used
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert submit_totp(client, uid, totp_code(seed, steps=steps)).status_code == 303


@pytest.mark.parametrize("steps", [-2, 2])
def test_two_steps_of_drift_are_refused(app, client, rp, make_member, steps):
    member, seed, _ = member_with_totp(app, make_member)
    next_step()
    next_step()
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert submit_totp(client, uid, totp_code(seed, steps=steps)).status_code == 401


def test_a_moved_clock_gives_the_app_and_idp_the_same_code(app, client, rp, make_member, moving_clock):
    member, seed, _ = member_with_totp(app, make_member)
    moving_clock.advance(3600)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert submit_totp(client, uid, totp_code(seed)).status_code == 303


def test_wrong_codes_lock_the_second_factor_and_the_right_one_is_then_refused(app, client, rp, make_member, outbox):
    member, seed, _ = member_with_totp(app, make_member, locale="en")
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    mails_before = len(outbox())
    statuses = [submit_totp(client, uid, f"{n:06d}").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 401, 423]

    locked = submit_totp(client, uid, totp_code(seed))
    assert locked.status_code == 423
    assert 'data-testid="second_factor_locked"' in locked.text
    assert "remain" not in locked.text.lower()  # never how many tries are left
    shown = client.get(f"/interaction/{uid}/second-factor")
    assert 'data-testid="second_factor_locked"' in shown.text

    with app.app_context():
        db = get_session()
        outcomes = [e.outcome for e in db.scalars(select(AuditEvent).where(AuditEvent.event == "second_factor"))]
        assert outcomes.count("failure") == 5 and outcomes.count("locked") == 1
        assert "success" not in outcomes
    notice = outbox()[mails_before:]
    assert len(notice) == 1 and notice[0].to == member.email
    assert "second factor" in notice[0].subject.lower()

    # The lock holds for the second factor only: the password still passes (to the lock page).
    other = app.test_client()
    uid_other = to_challenge(other, AuthorizationRequest(rp.client_id), member)
    assert submit_totp(other, uid_other, totp_code(seed)).status_code == 423


def test_lock_ends_after_its_duration(app, client, rp, make_member, moving_clock):
    member, seed, _ = member_with_totp(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    for n in range(5):
        submit_totp(client, uid, f"{n:06d}")
    moving_clock.advance(301)  # lockout.base_duration_seconds = 300
    fresh = app.test_client()
    uid = to_challenge(fresh, AuthorizationRequest(rp.client_id), member)
    assert submit_totp(fresh, uid, totp_code(seed)).status_code == 303


def test_a_member_without_a_factor_signs_in_with_the_password_alone(client, rp, make_member):
    member = make_member()
    request = AuthorizationRequest(rp.client_id)
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    claims = id_token_claims(client, location, request)
    assert claims["acr"] == "urn:idp:acr:pwd" and claims["amr"] == ["pwd"]


def test_the_challenge_belongs_to_the_browser_that_passed_the_password(app, client, rp, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    other = app.test_client()
    stolen = other.get(f"/interaction/{uid}/second-factor")
    assert stolen.status_code == 400  # our "start again" page, not the challenge
    assert 'data-testid="totp-form"' not in stolen.text
    posted = other.post(f"/interaction/{uid}/second-factor", data={"code": totp_code(seed)})
    assert posted.status_code == 400


def test_account_sign_in_asks_for_the_second_factor_too(app, client, make_member):
    member, seed, _ = member_with_totp(app, make_member)
    started = client.get("/account/")
    logged_in = Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    uid = logged_in.headers["Location"].split("/")[2]
    assert client.get("/account/").status_code == 303
    page = follow(client, submit_totp(client, uid, totp_code(seed)))
    assert page.status_code == 200 and 'data-testid="account-summary"' in page.text
