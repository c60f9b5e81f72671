"""Forgot password, through the hosted pages only: ask for a link, get it by mail (from a real
SMTP server), choose a new password through it, and what that does to the account."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idp.clock import utcnow
from idp.db import get_session
from idp.models import AuditEvent, Member, PasswordResetToken
from idp.security.tokens import digest, random_token
from idp.services.outbound import drain
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    ISSUER,
    AuthorizationRequest,
    Browser,
    LoginPage,
    code_from,
    csrf_token,
    exchange_code,
    login_page_uid,
    path_of,
)
from tests.helpers.smtp import SmtpServer, app_sending_mail

NEW_PASSWORD = "seven purple lanterns over Bandung"
RESET_LINK = re.compile(r"(?P<origin>https?://[^/\s\"'<>]+)/recovery/reset/(?P<token>[A-Za-z0-9_\-]+)")
RESET_SUBJECT = "Reset your password"
CHANGED_SUBJECT = "Your password was changed"


@pytest.fixture
def app(smtp_app):
    """Every test here runs the app with the SMTP backend, sending to ``smtp_server``; the
    member and client factories write to the same database."""
    return smtp_app


@pytest.fixture
def member(make_member):
    return make_member(locale="en")


# --- helpers ---------------------------------------------------------------------------------


def ask_for_link(client, identifier: str, **request_options):
    page = client.get("/recovery/forgot", **request_options)
    assert page.status_code == 200, page.status_code
    return client.post(
        "/recovery/forgot",
        data={"csrf_token": csrf_token(page.text), "identifier": identifier},
        **request_options,
    )


def delivered(app, smtp_server) -> list:
    """Everything the SMTP server received, once the app's background mailer is done."""
    drain(app)
    return smtp_server.received()


def reset_links(app, smtp_server, member) -> list[str]:
    """The reset links mailed to the member, oldest first (checked in both parts)."""
    links = []
    for mail in delivered(app, smtp_server):
        if mail.to != member.email or mail.subject != RESET_SUBJECT:
            continue
        found = RESET_LINK.search(mail.text)
        assert found, mail.text
        assert found.group(0) in mail.html
        links.append(found.group(0))
    return links


def new_link(client, app, smtp_server, member) -> str:
    answer = ask_for_link(client, member.email)
    assert answer.status_code == 200 and 'data-testid="reset_requested"' in answer.text
    return reset_links(app, smtp_server, member)[-1]


def choose_password(client, link: str, password: str, confirm: str | None = None, with_csrf: bool = True):
    """Post the new-password form of the link. The CSRF token comes from the forgot page (it
    belongs to the browser session, not to one page), so an unusable link can be posted too."""
    data = {"password": password, "confirm": password if confirm is None else confirm}
    if with_csrf:
        data["csrf_token"] = csrf_token(client.get("/recovery/forgot").text)
    return client.post(path_of(link), data=data)


def assert_unusable(response) -> None:
    assert response.status_code == 400, response.status_code
    assert 'data-testid="reset_link_unusable"' in response.text
    assert 'data-testid="reset-form"' not in response.text


def assert_private(response) -> None:
    """The reset token is a secret in the URL: never cached, never sent on as a Referer."""
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def sign_in_status(app, rp, identifier: str, password: str):
    """Try a password at the hosted login page in a fresh browser: (status, response)."""
    browser = Browser(app.test_client())
    started = browser.start(AuthorizationRequest(rp.client_id))
    assert started.status_code == 303
    response = browser.login(started.headers["Location"], identifier, password)
    return response.status_code, response


def signs_in(app, rp, identifier: str, password: str) -> bool:
    status, _ = sign_in_status(app, rp, identifier, password)
    assert status in (303, 401), status
    return status == 303


def password_hash(app, member) -> str | None:
    with app.app_context():
        return get_session().get(Member, member.id).password_hash


def audit_events(app, *names: str) -> list[AuditEvent]:
    with app.app_context():
        db = get_session()
        events = list(db.scalars(select(AuditEvent).where(AuditEvent.event.in_(names)).order_by(AuditEvent.id)))
        db.expunge_all()
        return events


# --- the whole way through -----------------------------------------------------------------


def test_reset_through_the_mailed_link_end_to_end(app, client, smtp_server, member, rp):
    page = client.get("/recovery/forgot")
    assert page.status_code == 200
    assert 'data-testid="forgot-form"' in page.text
    assert_private(page)

    requested = ask_for_link(client, member.email)
    assert requested.status_code == 200
    assert 'data-testid="reset_requested"' in requested.text
    assert_private(requested)

    mails = smtp_server.wait_for(1)
    assert [(mail.to, mail.subject) for mail in mails] == [(member.email, RESET_SUBJECT)]
    link = reset_links(app, smtp_server, member)[0]
    assert link.startswith(f"{ISSUER}/recovery/reset/")

    # Opening the link (a mail scanner, or the member twice) consumes nothing.
    for _ in range(2):
        form = client.get(path_of(link))
        assert form.status_code == 200
        assert 'data-testid="reset-form"' in form.text
        assert 'data-testid="password-guidance"' in form.text
        assert_private(form)

    done = choose_password(client, link, NEW_PASSWORD)
    assert done.status_code == 200, done.text[:500]
    assert 'data-testid="password_reset_done"' in done.text
    assert_private(done)

    assert not signs_in(app, rp, member.email, DEMO_PASSWORD)
    assert signs_in(app, rp, member.email, NEW_PASSWORD)
    assert signs_in(app, rp, member.membership_number, NEW_PASSWORD)

    # The member is told their password changed.
    notices = [mail for mail in delivered(app, smtp_server) if mail.subject == CHANGED_SUBJECT]
    assert len(notices) == 1
    assert notices[0].to == member.email
    assert "/recovery/reset/" not in notices[0].text

    # The link works once.
    assert_unusable(client.get(path_of(link)))
    assert_unusable(choose_password(client, link, "yet another long passphrase"))
    assert signs_in(app, rp, member.email, NEW_PASSWORD)

    events = audit_events(app, "password_reset_requested", "password_reset")
    assert [(event.event, event.outcome, event.member_id) for event in events] == [
        ("password_reset_requested", "sent", member.id),
        ("password_reset", "success", member.id),
    ]
    assert all(NEW_PASSWORD not in event.detail_json and link not in event.detail_json for event in events)


def test_no_automatic_sign_in_after_a_reset(app, client, smtp_server, member, rp):
    link = new_link(client, app, smtp_server, member)
    assert choose_password(client, link, NEW_PASSWORD).status_code == 200

    # The browser that reset the password has no sign-in session: the next authorization
    # request goes to the login page, which asks for the password.
    response = client.get(AuthorizationRequest(rp.client_id).url())
    login_page_uid(response)
    page = client.get(path_of(response.headers["Location"]))
    assert page.status_code == 200
    assert 'data-testid="login-form"' in page.text


def test_audit_trail_through_the_cli(app, app_config, client, smtp_server, member, monkeypatch):
    from idp.cli import main

    link = new_link(client, app, smtp_server, member)
    assert choose_password(client, link, NEW_PASSWORD).status_code == 200

    environment = {
        "IDP_DATABASE__URL": app_config["database"]["url"],
        "IDP_SERVER__INSTANCE_PATH": app_config["server"]["instance_path"],
        "IDP_SERVER__SECRET_KEY": app_config["server"]["secret_key"],
        "IDP_SERVER__ISSUER": app_config["server"]["issuer"],
    }
    for name in list(os.environ):
        if name == "IDP_CONFIG" or (name.startswith("IDP_") and "__" in name):
            monkeypatch.delenv(name)
    result = CliRunner().invoke(
        main, ["audit", "tail", "--json", "--member", member.email], env=environment, catch_exceptions=False
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    events = [(event["event"], event["outcome"], event["member"]) for event in json.loads(result.stdout)]
    assert ("password_reset_requested", "sent", member.membership_number) in events
    assert ("password_reset", "success", member.membership_number) in events
    assert events.index(("password_reset_requested", "sent", member.membership_number)) < events.index(
        ("password_reset", "success", member.membership_number)
    )
    assert link.rsplit("/", 1)[-1] not in result.stdout
    assert NEW_PASSWORD not in result.stdout


# --- asking for a link -----------------------------------------------------------------------


def test_the_answer_is_the_same_for_unknown_accounts_and_accounts_without_email(app, client, smtp_server, make_member):
    known = make_member(locale="en")
    without_email = make_member(email=None, email_verified=False)

    answers = [
        ask_for_link(client, "nobody@example.test"),
        ask_for_link(client, without_email.membership_number),
        ask_for_link(client, known.membership_number),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    bodies = {re.sub(r'value="[^"]*"', 'value=""', answer.text) for answer in answers}
    assert len(bodies) == 1
    assert 'data-testid="reset_requested"' in answers[0].text

    mails = delivered(app, smtp_server)
    assert [mail.to for mail in mails] == [known.email]
    assert len(reset_links(app, smtp_server, known)) == 1

    events = audit_events(app, "password_reset_requested")
    # The queue may run the three jobs in any order: what counts is one outcome each.
    assert sorted((event.outcome, event.member_id or 0) for event in events) == [
        ("sent", known.id),
        ("unknown", 0),
        ("unknown", 0),
    ]
    assert all(event.identifier_digest for event in events)
    assert all("nobody@example.test" not in (event.detail_json or "") for event in events)


def test_the_link_uses_the_configured_issuer_whatever_the_host_header(app, smtp_server, member):
    browser = app.test_client()
    answer = ask_for_link(browser, member.email, base_url="http://evil.example")
    assert answer.status_code == 200
    (mail,) = smtp_server.wait_for(1)
    assert "evil.example" not in mail.text and "evil.example" not in mail.html
    found = RESET_LINK.search(mail.text)
    assert found and found.group("origin") == ISSUER

    # And the same with only the Host header changed.
    other = app.test_client()
    answer = ask_for_link(other, member.membership_number, headers={"Host": "evil.example"})
    assert answer.status_code == 200 and 'data-testid="reset_requested"' in answer.text
    mails = smtp_server.wait_for(2)
    assert all("evil.example" not in mail.text + mail.html for mail in mails)
    assert all(link.startswith(f"{ISSUER}/recovery/reset/") for link in reset_links(app, smtp_server, member))


def test_forgot_password_without_csrf_token_is_refused_and_sends_nothing(app, client, smtp_server, member):
    client.get("/recovery/forgot")
    refused = client.post("/recovery/forgot", data={"identifier": member.email})
    assert refused.status_code == 400
    assert 'data-testid="reset_requested"' not in refused.text
    assert delivered(app, smtp_server) == []
    assert audit_events(app, "password_reset_requested") == []


def test_the_answer_does_not_wait_for_the_mail_server(app, app_config, member):
    """Coarse bound, not a benchmark: a server that takes 2 s to accept the message must not
    hold up the page (the mailer sends in the background)."""
    with SmtpServer(delay_seconds=2.0) as slow_server:
        with app_sending_mail(app_config, slow_server.mail_settings()) as slow_app:
            browser = slow_app.test_client()
            page = browser.get("/recovery/forgot")
            started = time.perf_counter()
            answer = browser.post(
                "/recovery/forgot", data={"csrf_token": csrf_token(page.text), "identifier": member.email}
            )
            elapsed = time.perf_counter() - started
            assert answer.status_code == 200
            assert 'data-testid="reset_requested"' in answer.text
            assert elapsed < 1.0, f"the page waited {elapsed:.2f} s on SMTP"
            assert slow_server.received() == []  # it really was still being delivered
            slow_server.release()
            drain(slow_app)
        (mail,) = slow_server.wait_for(1)
        assert mail.to == member.email and mail.subject == RESET_SUBJECT


# --- which links work ------------------------------------------------------------------------


def test_an_expired_link_is_unusable(app, client, smtp_server, member, moving_clock):
    link = new_link(client, app, smtp_server, member)
    # recovery.reset_token_ttl_seconds = 1800; the clock is real time plus what the test adds,
    # so leave a few real seconds of slack (the link was issued while the mail was delivered).
    moving_clock.advance(1790)
    assert client.get(path_of(link)).status_code == 200
    moving_clock.advance(11)
    assert_unusable(client.get(path_of(link)))
    assert_unusable(choose_password(client, link, NEW_PASSWORD))
    assert signs_in_with_demo_password_only(app, member)


@pytest.mark.settings(recovery={"reset_token_ttl_seconds": 60})
def test_a_link_may_live_as_short_as_sixty_seconds_for_drills(app, client, smtp_server, member, moving_clock):
    link = new_link(client, app, smtp_server, member)
    moving_clock.advance(50)
    assert client.get(path_of(link)).status_code == 200
    moving_clock.advance(11)
    assert_unusable(client.get(path_of(link)))


def test_a_new_link_voids_the_earlier_one(app, client, smtp_server, member, rp):
    first = new_link(client, app, smtp_server, member)
    second = new_link(client, app, smtp_server, member)
    assert first != second
    assert reset_links(app, smtp_server, member) == [first, second]

    assert_unusable(client.get(path_of(first)))
    assert_unusable(choose_password(client, first, NEW_PASSWORD))
    assert choose_password(client, second, NEW_PASSWORD).status_code == 200
    assert signs_in(app, rp, member.email, NEW_PASSWORD)


def test_a_reset_voids_every_other_open_link(app, client, smtp_server, member, rp):
    link = new_link(client, app, smtp_server, member)
    # Another open link of the same member, as if issued by another process at the same
    # moment (through the pages, asking for a link always voids the earlier one).
    other_token = random_token(32)
    with app.app_context():
        db = get_session()
        now = utcnow()
        db.add(
            PasswordResetToken(
                member_id=member.id,
                token_digest=digest(other_token),
                created_at=now,
                expires_at=now + timedelta(seconds=1800),
            )
        )
        db.commit()
    other_link = f"{ISSUER}/recovery/reset/{other_token}"
    assert client.get(path_of(other_link)).status_code == 200

    assert choose_password(client, link, NEW_PASSWORD).status_code == 200
    assert_unusable(client.get(path_of(other_link)))
    assert_unusable(choose_password(client, other_link, "an attacker's chosen passphrase"))
    assert signs_in(app, rp, member.email, NEW_PASSWORD)


def test_a_mismatched_confirmation_changes_nothing_and_keeps_the_link(app, client, smtp_server, member, rp):
    link = new_link(client, app, smtp_server, member)
    before = password_hash(app, member)

    mismatch = choose_password(client, link, NEW_PASSWORD, confirm=NEW_PASSWORD + "!")
    assert mismatch.status_code == 400
    assert 'data-testid="password_mismatch"' in mismatch.text
    assert 'data-testid="reset-form"' in mismatch.text
    assert_private(mismatch)
    assert NEW_PASSWORD not in mismatch.text  # the password is not echoed back
    assert password_hash(app, member) == before

    assert choose_password(client, link, NEW_PASSWORD).status_code == 200
    assert signs_in(app, rp, member.email, NEW_PASSWORD)


def test_a_post_without_csrf_token_changes_nothing_and_keeps_the_link(app, client, smtp_server, member, rp):
    link = new_link(client, app, smtp_server, member)
    before = password_hash(app, member)

    refused = choose_password(client, link, NEW_PASSWORD, with_csrf=False)
    assert refused.status_code == 400
    assert 'data-testid="password_reset_done"' not in refused.text
    assert password_hash(app, member) == before
    assert [mail.subject for mail in delivered(app, smtp_server)] == [RESET_SUBJECT]

    # Nor does a token from another browser session help.
    stranger = app.test_client()
    foreign_token = csrf_token(stranger.get("/recovery/forgot").text)
    refused = client.post(
        path_of(link), data={"csrf_token": foreign_token, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert refused.status_code == 400
    assert password_hash(app, member) == before

    assert client.get(path_of(link)).status_code == 200
    assert choose_password(client, link, NEW_PASSWORD).status_code == 200
    assert signs_in(app, rp, member.email, NEW_PASSWORD)


# --- what a reset does to the account ----------------------------------------------------------


def signed_in_browser(client, member, make_client):
    """A browser signed in to a confidential client, and the access token it got there."""
    rp, secret = make_client()
    request = AuthorizationRequest(rp.client_id)
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    tokens = exchange_code(client, code_from(location, request), request, secret=secret)
    assert tokens.status_code == 200, tokens.text
    return rp, tokens.json["access_token"]


def reset_from_another_device(app, smtp_server, member) -> None:
    phone = app.test_client()
    link = new_link(phone, app, smtp_server, member)
    assert choose_password(phone, link, NEW_PASSWORD).status_code == 200


def test_a_reset_ends_every_sso_session(app, client, smtp_server, member, make_client):
    rp, _ = signed_in_browser(client, member, make_client)
    sso = client.get(AuthorizationRequest(rp.client_id).url())
    assert sso.status_code == 302 and "code=" in sso.headers["Location"]  # single sign-on works

    reset_from_another_device(app, smtp_server, member)

    # The first browser's session is over: back to the login page, no code.
    after = client.get(AuthorizationRequest(rp.client_id).url())
    login_page_uid(after)


def test_a_reset_revokes_access_tokens_issued_before(app, client, smtp_server, member, make_client):
    _, access_token = signed_in_browser(client, member, make_client)
    bearer = {"Authorization": f"Bearer {access_token}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200

    reset_from_another_device(app, smtp_server, member)

    refused = client.get("/userinfo", headers=bearer)
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers.get("WWW-Authenticate", "")


def test_a_reset_clears_the_lock_so_the_new_password_works_at_once(app, client, smtp_server, member, rp):
    login = LoginPage(app.test_client(), rp.client_id)
    statuses = [login.attempt(member.email, "not the right password").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 423]

    link = new_link(client, app, smtp_server, member)
    assert choose_password(client, link, NEW_PASSWORD).status_code == 200

    status, response = sign_in_status(app, rp, member.email, NEW_PASSWORD)
    assert status == 303, response.text[:500]
    events = audit_events(app, "password_reset")
    assert [(event.outcome, event.member_id) for event in events] == [("success", member.id)]


def test_every_page_of_the_flow_is_private(app, client, smtp_server, member):
    link = new_link(client, app, smtp_server, member)
    responses = [
        client.get("/recovery/forgot"),
        ask_for_link(client, "nobody@example.test"),
        client.get(path_of(link)),
        choose_password(client, link, NEW_PASSWORD, confirm="something else entirely"),
        choose_password(client, link, "short"),
        choose_password(client, link, NEW_PASSWORD),
        client.get(path_of(link)),
        client.get("/recovery/reset/not-a-real-token"),
    ]
    assert [response.status_code for response in responses] == [200, 200, 200, 400, 400, 200, 400, 400]
    for response in responses:
        assert_private(response)


def signs_in_with_demo_password_only(app, member) -> bool:
    """The member's password is still the one they had (checked on the stored hash, so as not
    to spend sign-in attempts)."""
    from idp.security.passwords import verify_password

    stored = password_hash(app, member)
    return verify_password(DEMO_PASSWORD, stored) and not verify_password(NEW_PASSWORD, stored)


def test_a_record_without_an_online_account_gets_no_reset_link(smtp_client, smtp_server, make_member):
    # An imported record with an (unverified) email but no password must activate with NIK and
    # birth date; a reset link would let control of the address alone create the account.
    record = make_member(password=None, email="imported@example.test", email_verified=False)
    page = smtp_client.get("/recovery/forgot")
    answer = smtp_client.post(
        "/recovery/forgot", data={"csrf_token": csrf_token(page.text), "identifier": record.email}
    )
    assert answer.status_code == 200
    assert 'data-testid="reset_requested"' in answer.text
    drain(smtp_client.application)
    assert smtp_server.messages == []
