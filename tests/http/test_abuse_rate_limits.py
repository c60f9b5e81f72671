"""Issue 10 §1: rate limits an attacker cannot aim at someone else, and anonymous GETs that do
work limited per address."""

from __future__ import annotations

import base64
import secrets

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, code_from, exchange_code

ATTACKER = "203.0.113.66"


def _basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _junk_exchange(client, client_id: str, secret: str = "wrong-secret", address: str = ATTACKER):
    return client.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "junk", "redirect_uri": "https://rp.example.test/callback"},
        headers=_basic(client_id, secret),
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.mark.settings(ratelimit={"token_per_client": "3 per minute"})
def test_junk_requests_naming_a_portal_do_not_block_its_real_code_exchanges(app, client, make_client, make_member):
    portal, secret = make_client(name="benefits-portal")
    member = make_member()
    # An attacker names the portal many times more than its whole budget, with wrong secrets
    # and with no secret at all.
    for _ in range(10):
        _junk_exchange(client, portal.client_id)
    for _ in range(5):
        client.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "junk", "client_id": portal.client_id},
            environ_base={"REMOTE_ADDR": "203.0.113.67"},
        )

    request = AuthorizationRequest(portal.client_id)
    code = code_from(Browser(client).sign_in(request, member.email, DEMO_PASSWORD), request)
    exchanged = exchange_code(client, code, request, secret=secret)
    assert exchanged.status_code == 200, exchanged.text
    assert "access_token" in exchanged.json


def test_fifty_wrong_secrets_in_a_row_meet_a_limit_with_retry_after(client, make_client):
    portal, _ = make_client()
    responses = [_junk_exchange(client, portal.client_id, secret=f"guess-{i}") for i in range(50)]
    statuses = [r.status_code for r in responses]
    assert 429 in statuses, statuses
    first_limited = statuses.index(429)
    assert set(statuses[:first_limited]) == {401}
    assert set(statuses[first_limited:]) == {429}, "once limited, every further guess is refused"
    limited = responses[first_limited]
    assert limited.json["error"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["Cache-Control"] == "no-store"


@pytest.mark.settings(ratelimit={"client_auth_failures_per_ip_and_client": "100 per minute"})
def test_failed_client_authentication_is_limited_per_address_across_client_ids(client, make_client):
    """Spreading the guesses over many claimed client ids meets the per-address limit."""
    statuses = [_junk_exchange(client, f"client-{i}").status_code for i in range(25)]
    assert statuses[:20] == [401] * 20
    assert statuses[20:] == [429] * 5
    # Another address is not affected.
    assert _junk_exchange(client, "client-x", address="198.51.100.1").status_code == 401


def test_unknown_client_and_wrong_secret_answer_the_same(client, make_client):
    portal, _ = make_client()
    unknown = _junk_exchange(client, "no-such-client")
    wrong = _junk_exchange(client, portal.client_id)
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json == wrong.json
    assert unknown.json["error"] == "invalid_client"
    assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]

    def posted(client_id: str):
        return client.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "x", "client_id": client_id, "client_secret": "nope"},
        )

    assert posted("no-such-client").json == posted(portal.client_id).json


def test_fifty_random_reset_tokens_in_a_row_meet_a_429(client):
    statuses = [client.get(f"/recovery/reset/{secrets.token_urlsafe(32)}").status_code for _ in range(50)]
    assert 429 in statuses, statuses
    assert set(statuses[: statuses.index(429)]) == {400}


@pytest.mark.settings(ratelimit={"links_per_ip": "6 per minute"})
def test_every_kind_of_mailed_link_shares_one_budget_per_address(client):
    paths = ["/recovery/reset/", "/activate/verify/", "/account/profile/email/verify/"]
    statuses = [client.get(paths[i % 3] + secrets.token_urlsafe(32)).status_code for i in range(8)]
    assert statuses[6:] == [429, 429], statuses
    assert client.get("/activate/verify/x", environ_base={"REMOTE_ADDR": "198.51.100.2"}).status_code == 400


@pytest.mark.settings(ratelimit={"authorize_per_ip": "5 per minute"})
def test_anonymous_authorize_requests_are_limited_per_address(client, rp):
    statuses = [client.get(AuthorizationRequest(rp.client_id).url()).status_code for _ in range(7)]
    assert statuses[:5] == [303] * 5
    assert statuses[5:] == [429, 429]
    other = client.get(AuthorizationRequest(rp.client_id).url(), environ_base={"REMOTE_ADDR": "198.51.100.3"})
    assert other.status_code == 303


@pytest.mark.settings(ratelimit={"authorize_per_ip": "4 per minute"})
def test_anonymous_account_pages_that_start_a_sign_in_share_the_budget(client, rp):
    statuses = [client.get("/account/").status_code for _ in range(2)]
    statuses += [client.get(AuthorizationRequest(rp.client_id).url()).status_code for _ in range(2)]
    statuses.append(client.get("/account/profile").status_code)
    assert statuses == [303, 303, 303, 303, 429]
