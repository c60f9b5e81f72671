"""Issue 10 §5: bounded growth. Anonymous requests store no browser session; what they do
store (held authorization requests, lockout counters of unknown identifiers, queue jobs,
audit events) expires and is deleted by `idp db purge` and by the server's periodic purge."""

from __future__ import annotations

import json
import secrets
import time

import pytest
from sqlalchemy import func, select

from idp import create_app
from idp.db import get_engine, get_session
from idp.models import (
    AuditEvent,
    BrowserSession,
    Interaction,
    LoginThrottle,
    OutboundJob,
    PasswordResetToken,
)
from idp.services.outbound import drain
from tests.cli.conftest import assert_succeeded
from tests.conftest import stop_worker
from tests.helpers.oidc import AuthorizationRequest, LoginPage, csrf_token

FLOOD = 40
# Flooding from one address: the per-address limits (tests/http/test_abuse_rate_limits.py)
# would stop it early; here the question is what the requests that get through leave behind.
pytestmark = pytest.mark.settings(ratelimit={"enabled": False})


def _count(app, model, *where) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model).where(*where))


def _anonymous_gets(rp) -> list[str]:
    return [
        "/",
        "/recovery/forgot",
        "/activate",
        "/activate/sent",
        "/account/",
        AuthorizationRequest(rp.client_id).url(),
        f"/recovery/reset/{secrets.token_urlsafe(32)}",
        f"/activate/verify/{secrets.token_urlsafe(32)}",
        f"/account/profile/email/verify/{secrets.token_urlsafe(32)}",
        "/.well-known/openid-configuration",
        "/jwks",
    ]


def test_flooding_anonymous_pages_stores_no_browser_session(app, rp):
    for path in _anonymous_gets(rp):
        for _ in range(FLOOD):
            answered = app.test_client().get(path)  # a new client each time: no cookie kept
            assert answered.status_code < 500, path
    # Following the login page too (the form, its CSRF token) stores nothing either.
    for _ in range(FLOOD):
        browser = app.test_client()
        started = browser.get(AuthorizationRequest(rp.client_id).url())
        assert browser.get(started.headers["Location"]).status_code == 200
    assert _count(app, BrowserSession) == 0


def test_what_anonymous_requests_leave_is_purged(idp, app, rp, make_member, moving_clock):
    member = make_member()
    for _ in range(FLOOD):
        app.test_client().get(AuthorizationRequest(rp.client_id).url())
        app.test_client().get("/account/")
    # Wrong passwords for identifiers that name no account; forgot-password for real and unknown ones.
    for i in range(FLOOD):
        LoginPage(app.test_client(), rp.client_id).attempt(f"nobody-{i}@example.test", "not the password")
    for identifier in [member.email] * 3 + [f"nobody-{i}@example.test" for i in range(FLOOD)]:
        browser = app.test_client()
        page = browser.get("/recovery/forgot")
        browser.post("/recovery/forgot", data={"csrf_token": csrf_token(page.text), "identifier": identifier})
    drain(app)

    assert _count(app, Interaction) >= 3 * FLOOD
    assert _count(app, LoginThrottle, LoginThrottle.member_id.is_(None)) == FLOOD
    assert _count(app, OutboundJob) > FLOOD
    assert _count(app, PasswordResetToken) == 3

    # Nothing is purged while it may still be used.
    assert json.loads(assert_succeeded(idp("db", "purge", "--json")).stdout)["interactions"] == 0
    assert _count(app, Interaction) >= 3 * FLOOD

    moving_clock.advance(8 * 86400)  # past every expiry and retention.finished_jobs_days
    purged = json.loads(assert_succeeded(idp("db", "purge", "--json")).stdout)
    assert purged["interactions"] >= 3 * FLOOD
    assert purged["unknown_identifier_lockouts"] == FLOOD
    for model in (Interaction, BrowserSession, OutboundJob, PasswordResetToken):
        assert _count(app, model) == 0, model.__name__
    assert _count(app, LoginThrottle) == 0
    assert _count(app, AuditEvent) > 0  # audit events are kept for retention.audit_days

    moving_clock.advance(400 * 86400)
    text = assert_succeeded(idp("db", "purge")).stdout
    assert text.startswith("purged ") and "audit events" in text
    assert _count(app, AuditEvent) == 0


def test_a_signed_in_session_is_kept_and_ends_by_the_purge_once_expired(idp, app, rp, make_member, moving_clock):
    from tests.helpers.account import sign_in_to_account

    browser = app.test_client()
    sign_in_to_account(browser, make_member())
    assert _count(app, BrowserSession) == 1
    assert_succeeded(idp("db", "purge"))
    assert _count(app, BrowserSession) == 1
    moving_clock.advance(1801)  # session.idle_timeout_seconds
    assert_succeeded(idp("db", "purge"))
    assert _count(app, BrowserSession) == 0


def test_every_server_process_purges_periodically(app_config, rp, moving_clock):
    config = {section: dict(values) for section, values in app_config.items()}
    config["outbound"] = {"worker": True, "poll_seconds": 1}
    config["retention"] = {"purge_interval_seconds": 1}
    served = create_app(config)
    try:
        for _ in range(5):
            served.test_client().get(AuthorizationRequest(rp.client_id).url())
        assert _count(served, Interaction) == 5
        moving_clock.advance(901)  # session.interaction_ttl_seconds
        deadline = time.monotonic() + 15
        while _count(served, Interaction) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _count(served, Interaction) == 0
    finally:
        stop_worker(served)
        get_engine(served).dispose()
