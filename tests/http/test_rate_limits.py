"""Rate limits: 429 with Retry-After, a friendly page or a JSON error, keyed by the socket
address unless proxies are trusted."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from idp.db import get_session
from idp.models import AuditEvent
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, path_of


def _login_attempts(client, client_id: str, count: int, **request_kwargs) -> list:
    started = Browser(client).start(AuthorizationRequest(client_id))
    location = path_of(started.headers["Location"])
    token = csrf_token(client.get(location).text)
    return [
        client.post(
            f"{location}/login",
            data={"csrf_token": token, "identifier": "nobody@example.test", "password": f"guess number {i}"},
            **request_kwargs,
        )
        for i in range(count)
    ]


@pytest.mark.settings(ratelimit={"login_per_ip": "3 per minute"})
def test_login_over_the_limit_gets_a_friendly_429(app, client, make_client):
    registered, _ = make_client(public=True)
    responses = _login_attempts(client, registered.client_id, 4, headers={"Accept-Language": "en"})

    assert [r.status_code for r in responses[:3]] == [401, 401, 401]
    limited = responses[3]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["Cache-Control"] == "no-store"
    assert 'data-testid="rate_limited"' in limited.text
    assert limited.mimetype == "text/html"
    with app.app_context():
        events = get_session().scalars(select(AuditEvent).where(AuditEvent.event == "rate_limit")).all()
    assert len(events) == 1 and events[0].ip_address == "127.0.0.1"


@pytest.mark.settings(ratelimit={"login_per_ip": "3 per minute"})
def test_the_friendly_page_speaks_the_members_language(client, make_client):
    registered, _ = make_client(public=True)
    limited = _login_attempts(client, registered.client_id, 4, headers={"Accept-Language": "id"})[3]
    assert limited.status_code == 429
    assert 'lang="id"' in limited.text
    assert "Too many attempts" not in limited.text


@pytest.mark.settings(ratelimit={"login_per_ip": "2 per minute"})
def test_forged_forwarded_for_is_ignored_by_default(client, make_client):
    registered, _ = make_client(public=True)
    started = Browser(client).start(AuthorizationRequest(registered.client_id))
    location = path_of(started.headers["Location"])
    token = csrf_token(client.get(location).text)
    statuses = [
        client.post(
            f"{location}/login",
            data={"csrf_token": token, "identifier": "x@example.test", "password": "a wrong password"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(3)
    ]
    assert statuses == [401, 401, 429]


@pytest.mark.settings(ratelimit={"login_per_ip": "2 per minute"}, server={"trusted_proxies": 1})
def test_forwarded_for_counts_when_one_proxy_is_trusted(client, make_client):
    registered, _ = make_client(public=True)
    started = Browser(client).start(AuthorizationRequest(registered.client_id))
    location = path_of(started.headers["Location"])
    token = csrf_token(client.get(location).text)

    def attempt(address: str) -> int:
        return client.post(
            f"{location}/login",
            data={"csrf_token": token, "identifier": "x@example.test", "password": "a wrong password"},
            headers={"X-Forwarded-For": address},
        ).status_code

    assert [attempt("203.0.113.1"), attempt("203.0.113.2"), attempt("203.0.113.3")] == [401, 401, 401]
    assert attempt("203.0.113.1") == 401
    assert attempt("203.0.113.1") == 429


@pytest.mark.settings(ratelimit={"token_per_client": "2 per minute"})
def test_token_endpoint_is_limited_per_client_with_a_json_error(client, make_client):
    first, first_secret = make_client()
    second, second_secret = make_client()

    def token_request(client_id: str, secret: str):
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return client.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": "nope",
                "redirect_uri": "https://rp.example.test/callback",
            },
            headers={"Authorization": f"Basic {basic}"},
        )

    assert [token_request(first.client_id, first_secret).status_code for _ in range(2)] == [400, 400]
    limited = token_request(first.client_id, first_secret)
    assert limited.status_code == 429
    assert limited.json["error"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["Cache-Control"] == "no-store"
    # Another client has its own budget.
    assert token_request(second.client_id, second_secret).status_code == 400


@pytest.mark.settings(ratelimit={"forgot_password_per_ip": "2 per minute"})
def test_forgot_password_is_limited_per_ip(client):
    page = client.get("/recovery/forgot")
    token = csrf_token(page.text)
    statuses = [
        client.post("/recovery/forgot", data={"csrf_token": token, "identifier": "a@example.test"}).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


@pytest.mark.settings(ratelimit={"enabled": False, "login_per_ip": "1 per minute"})
def test_limits_can_be_turned_off(client, make_client):
    registered, _ = make_client(public=True)
    assert [r.status_code for r in _login_attempts(client, registered.client_id, 3)] == [401, 401, 401]


@pytest.mark.settings(ratelimit={"forgot_password_per_ip": "2 per minute"})
def test_only_views_with_a_limit_run_the_limiters_check(client, monkeypatch):
    """Every limit is a view's own (or counted by hand): a request to any other view does no
    rate-limit work at all, while a limited view is still counted."""
    from idp.extensions import limiter

    checked: list[str] = []
    identify = limiter.identify_request
    monkeypatch.setattr(limiter, "identify_request", lambda: checked.append("checked") or identify())

    for path in ("/healthz", "/.well-known/openid-configuration", "/recovery/forgot"):
        assert client.get(path).status_code == 200
    assert checked == []

    token = csrf_token(client.get("/recovery/forgot").text)
    statuses = [
        client.post("/recovery/forgot", data={"csrf_token": token, "identifier": "a@example.test"}).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert len(checked) >= 3  # at least once a POST (the decorator asks more than once)
