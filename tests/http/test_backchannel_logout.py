"""Back-Channel Logout 1.0: whenever a sign-in session ends (RP-initiated logout, signing out
at idp, sign out everywhere, a password reset, an operator lock, expiry), every client that
got tokens in it and registered a back-channel URI receives a signed logout token at a real
HTTP server, delivered by the outbound queue; a receiver that hangs costs the member nothing,
and the job is retried and given up."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from idp.clock import utcnow
from idp.db import get_session
from idp.models import AuditEvent, OutboundJob
from idp.models.outbound import JOB_FAILED, JOB_PENDING
from idp.services.outbound import drain
from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import sign_in_to_account, submit
from tests.helpers.backchannel import backchannel_receiver, verify_jws
from tests.helpers.oidc import ISSUER, AuthorizationRequest, Browser, code_from, csrf_token, exchange_code, path_of

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def member(make_member):
    return make_member(locale="en")


@pytest.fixture
def receiver():
    with backchannel_receiver() as listening:
        yield listening


def sign_in(client, member, rp_client, secret=None) -> dict:
    request = AuthorizationRequest(rp_client.client_id)
    started = client.get(request.url())
    if started.headers["Location"].startswith("/interaction/"):
        browser = Browser(client)
        location = browser.follow_to_client(browser.login(started.headers["Location"], member.email, DEMO_PASSWORD))
    else:
        location = started.headers["Location"]
    tokens = exchange_code(client, code_from(location, request), request, secret=secret)
    assert tokens.status_code == 200, tokens.text
    return tokens.json


def id_token_claims(client, tokens) -> dict:
    return verify_jws(tokens["id_token"], client.get("/jwks").json)[1]


def assert_logout_token(client, delivery, rp_client, member, sid: str) -> dict:
    assert delivery.content_type.startswith("application/x-www-form-urlencoded")
    header, claims = verify_jws(delivery.logout_token, client.get("/jwks").json)
    assert header["typ"] == "logout+jwt"
    assert claims["iss"] == ISSUER
    assert claims["aud"] == rp_client.client_id
    assert claims["sub"] == member.subject
    assert claims["sid"] == sid
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    now = utcnow().timestamp()
    assert now - 5 <= claims["iat"] <= now + 5 and claims["exp"] > claims["iat"]
    return claims


def jobs(app) -> list[OutboundJob]:
    with app.app_context():
        db = get_session()
        found = list(db.scalars(select(OutboundJob).where(OutboundJob.kind == "backchannel_logout")))
        db.expunge_all()
        return found


def test_rp_initiated_logout_tells_every_client_of_the_session(app, client, member, make_client, receiver):
    with backchannel_receiver() as second_receiver:
        first_rp, first_secret = make_client(name="Klaim", backchannel_logout_uri=receiver.url)
        second_rp, second_secret = make_client(name="Saldo", backchannel_logout_uri=second_receiver.url)
        silent_rp, silent_secret = make_client(name="No back-channel")
        first = sign_in(client, member, first_rp, first_secret)
        sign_in(client, member, second_rp, second_secret)
        sign_in(client, member, silent_rp, silent_secret)
        sid = id_token_claims(client, first)["sid"]

        answer = client.get("/logout", query_string={"id_token_hint": first["id_token"]})
        assert answer.status_code == 200
        # Nothing is sent during the member's request; the queue sends it.
        assert receiver.deliveries == [] and second_receiver.deliveries == []
        drain(app)
        assert len(receiver.deliveries) == 1 and len(second_receiver.deliveries) == 1
        assert_logout_token(client, receiver.deliveries[0], first_rp, member, sid)
        assert_logout_token(client, second_receiver.deliveries[0], second_rp, member, sid)


def test_other_sessions_clients_are_not_told(app, client, member, make_client, receiver):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    other_browser = app.test_client()
    sign_in(other_browser, member, rp_client, secret)
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    drain(app)
    assert len(receiver.deliveries) == 1
    assert (
        verify_jws(receiver.deliveries[0].logout_token, client.get("/jwks").json)[1]["sid"]
        == (id_token_claims(client, tokens)["sid"])
    )


def test_signing_out_at_idp_tells_the_clients(app, client, member, make_client, receiver):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    answer = submit(client, "/account/", "/account/logout", {})
    assert answer.status_code == 303
    drain(app)
    assert_logout_token(client, receiver.deliveries[0], rp_client, member, id_token_claims(client, tokens)["sid"])


def test_sign_out_everywhere_tells_the_clients_of_every_session(app, client, member, make_client, receiver):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    phone = app.test_client()
    on_phone = sign_in(phone, member, rp_client, secret)
    here = sign_in(client, member, rp_client, secret)
    answer = submit(client, "/account/sessions", "/account/sessions/end-all", {})
    assert answer.status_code == 303
    drain(app)
    sids = {verify_jws(d.logout_token, client.get("/jwks").json)[1]["sid"] for d in receiver.deliveries}
    assert sids == {id_token_claims(client, on_phone)["sid"], id_token_claims(client, here)["sid"]}


def test_ending_one_session_from_the_account_pages(app, client, member, make_client, receiver):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    phone = app.test_client()
    on_phone = sign_in(phone, member, rp_client, secret)
    phone_sid = id_token_claims(client, on_phone)["sid"]
    sign_in_to_account(client, member)
    answer = submit(client, "/account/sessions", f"/account/sessions/{phone_sid}/end", {})
    assert answer.status_code == 303
    drain(app)
    assert len(receiver.deliveries) == 1
    assert_logout_token(client, receiver.deliveries[0], rp_client, member, phone_sid)


def test_a_password_reset_tells_the_clients(app, client, member, make_client, receiver, outbox):
    import re

    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    stranger = app.test_client()
    page = stranger.get("/recovery/forgot")
    stranger.post("/recovery/forgot", data={"csrf_token": csrf_token(page.text), "identifier": member.email})
    link = re.search(r"https?://[^/\s]+/recovery/reset/[A-Za-z0-9_\-]+", outbox()[-1].text).group(0)
    new_password = "a completely new passphrase 42"
    form = stranger.get(path_of(link))
    answer = stranger.post(
        path_of(link), data={"csrf_token": csrf_token(form.text), "password": new_password, "confirm": new_password}
    )
    assert answer.status_code in (200, 303), answer.status_code
    drain(app)
    assert len(receiver.deliveries) == 1
    assert_logout_token(client, receiver.deliveries[0], rp_client, member, id_token_claims(client, tokens)["sid"])


def test_a_password_change_tells_the_clients_of_every_session(app, client, member, make_client, receiver):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    new_password = "a completely new passphrase 42"
    answer = submit(
        client,
        "/account/profile/password",
        "/account/profile/password",
        {"current_password": DEMO_PASSWORD, "password": new_password, "confirm": new_password},
    )
    assert answer.status_code == 303, answer.text[:300]
    drain(app)
    assert len(receiver.deliveries) == 1
    assert_logout_token(client, receiver.deliveries[0], rp_client, member, id_token_claims(client, tokens)["sid"])
    # This browser stays signed in, under a new sid.
    again = sign_in(client, member, rp_client, secret)
    assert id_token_claims(client, again)["sid"] != id_token_claims(client, tokens)["sid"]


def test_an_expired_session_tells_the_clients_when_found(app, client, member, make_client, receiver, moving_clock):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    moving_clock.advance(1801)  # session.idle_timeout_seconds
    client.get("/account/")  # the browser comes back: its session has expired
    drain(app)
    assert_logout_token(client, receiver.deliveries[0], rp_client, member, id_token_claims(client, tokens)["sid"])


def test_another_member_signing_in_to_the_browser_ends_the_first_session(
    app, client, member, make_member, make_client, receiver
):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    other = make_member()
    request = AuthorizationRequest(rp_client.client_id, extra={"prompt": "login"})
    started = client.get(request.url())
    browser = Browser(client)
    browser.follow_to_client(browser.login(started.headers["Location"], other.email, DEMO_PASSWORD))
    drain(app)
    assert len(receiver.deliveries) == 1
    assert_logout_token(client, receiver.deliveries[0], rp_client, member, id_token_claims(client, tokens)["sid"])


@pytest.mark.settings(logout={"backchannel_timeout_seconds": 1}, outbound={"max_attempts": 2, "retry_base_seconds": 10})
def test_a_hanging_receiver_never_holds_up_the_member(app, client, member, make_client, receiver, moving_clock):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    receiver.hang.set()

    started = time.monotonic()
    answer = client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    assert answer.status_code == 200 and 'data-testid="signed-out"' in answer.text
    assert time.monotonic() - started < 1.0

    # The first try times out and is rescheduled with backoff...
    started = time.monotonic()
    drain(app)
    assert time.monotonic() - started < 5
    (job,) = jobs(app)
    assert job.state == JOB_PENDING and job.attempts == 1 and job.last_error == "DeliveryFailed"
    # ...the second, when due, too; then the job is given up and audited.
    moving_clock.advance(11)
    drain(app)
    (job,) = jobs(app)
    assert job.state == JOB_FAILED and job.attempts == 2
    assert receiver.attempts == 2 and receiver.deliveries == []
    with app.app_context():
        failed = get_session().scalars(select(AuditEvent).where(AuditEvent.event == "outbound_failed")).all()
        assert len(failed) == 1


def test_a_refusing_receiver_is_given_up_at_once(app, client, member, make_client, receiver):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    receiver.status = 400
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    drain(app)
    (job,) = jobs(app)
    assert job.state == JOB_FAILED and job.attempts == 1


def test_a_receiver_that_is_down_is_retried_until_it_answers(app, client, member, make_client, receiver, moving_clock):
    rp_client, secret = make_client(backchannel_logout_uri=receiver.url)
    tokens = sign_in(client, member, rp_client, secret)
    receiver.status = 503
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    drain(app)
    assert jobs(app)[0].state == JOB_PENDING
    receiver.status = 200
    moving_clock.advance(16)
    drain(app)
    assert jobs(app)[0].state == "done"
    # Each try signs a new token: the one delivered is fresh.
    assert len(receiver.deliveries) == 2
    first, second = (verify_jws(d.logout_token, client.get("/jwks").json)[1] for d in receiver.deliveries)
    assert first["jti"] != second["jti"]


def needs_password_at(client, rp_client) -> bool:
    """Whether an authorization request at the client now asks the browser to sign in."""
    answer = client.get(AuthorizationRequest(rp_client.client_id).url())
    return answer.headers["Location"].startswith("/interaction/")
