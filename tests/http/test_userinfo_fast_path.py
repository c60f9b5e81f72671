"""UserInfo's fast path (issue 12): a GET with a good bearer token is answered in front of
Flask (``web/protocol/userinfo.py``), with the body and headers the Flask view sends; every
other request is the view's.

An app with ``keys.cache_seconds = 0`` has no fresh key snapshot, so its fast path always
hands the request to the view: it is the reference each answer is compared with."""

from __future__ import annotations

import json

import pytest
from flask import request

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, code_from, exchange_code
from tests.http.test_discovery import PER_ANSWER, separate_app
from tests.http.test_health_and_metrics import samples, value

# The fast path needs a fresh key snapshot; a loaded machine must not outlast the cache.
pytestmark = pytest.mark.settings(keys={"cache_seconds": 60})


def signed_in_tokens(client, member, rp, **extra) -> dict:
    request_ = AuthorizationRequest(rp.client_id, **extra)
    location = Browser(client).sign_in(request_, member.email, DEMO_PASSWORD)
    tokens = exchange_code(client, code_from(location, request_), request_)
    assert tokens.status_code == 200, tokens.text
    return tokens.json


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def comparable(response) -> tuple[int, bytes, dict]:
    return (
        response.status_code,
        response.data,
        {name: value for name, value in response.headers.items() if name not in PER_ANSWER},
    )


@pytest.fixture
def through_flask(app_config):
    """A second app on the same database whose UserInfo is always answered by the view."""
    never_cached = {**app_config, "keys": {**app_config.get("keys", {}), "cache_seconds": 0}}
    with separate_app(never_cached) as reference:
        yield reference.test_client()


@pytest.fixture
def flask_saw(app) -> list[str]:
    """The paths of the requests that reached Flask's request hooks (registered before the
    app's first request, as Flask requires)."""
    seen: list[str] = []
    app.before_request(lambda: seen.append(request.path))
    return seen


@pytest.mark.parametrize(
    "scope, claims",
    [
        ("openid", None),
        ("openid profile email phone membership", None),
        ("openid email", {"userinfo": {"email": {"essential": True}, "phone_number": None}}),
        ("openid profile", {"userinfo": {"locale": {"value": "xx"}}}),  # a value the member does not have
    ],
)
def test_a_good_token_gets_the_answer_the_view_gives(client, through_flask, flask_saw, make_member, rp, scope, claims):
    member = make_member(email="siti@example.test", phone="+6281234567890")
    extra = {"claims": json.dumps(claims)} if claims else {}
    tokens = signed_in_tokens(client, member, rp, scope=scope, extra=extra)
    flask_saw.clear()

    fast = client.get("/userinfo", headers=bearer(tokens["access_token"]))

    assert flask_saw == [], "answered in front of Flask"
    assert fast.status_code == 200 and fast.json["sub"] == member.subject
    assert comparable(fast) == comparable(through_flask.get("/userinfo", headers=bearer(tokens["access_token"])))
    assert fast.headers["Cache-Control"] == "no-store"
    assert len(fast.headers["X-Request-ID"]) == 32


def test_a_revoked_token_is_refused_by_the_view_with_its_challenge(client, through_flask, flask_saw, make_member, rp):
    member = make_member(email="siti@example.test")
    tokens = signed_in_tokens(client, member, rp)
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 200
    revoked = client.post("/revoke", data={"token": tokens["access_token"], "client_id": rp.client_id})
    assert revoked.status_code == 200
    flask_saw.clear()

    answer = client.get("/userinfo", headers=bearer(tokens["access_token"]))

    assert flask_saw == ["/userinfo"]
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert comparable(answer) == comparable(through_flask.get("/userinfo", headers=bearer(tokens["access_token"])))


@pytest.mark.parametrize(
    "shape",
    ["tampered", "another scheme", "query string", "post", "cross origin"],
)
def test_what_is_not_a_plain_get_with_a_good_token_is_the_views(client, flask_saw, make_member, rp, shape):
    member = make_member(email="siti@example.test")
    token = signed_in_tokens(client, member, rp)["access_token"]
    flask_saw.clear()
    if shape == "tampered":
        answer = client.get("/userinfo", headers=bearer(token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")))
        assert answer.status_code == 401
    elif shape == "another scheme":
        answer = client.get("/userinfo", headers={"Authorization": f"Basic {token}"})
        assert answer.status_code == 401
    elif shape == "query string":
        answer = client.get("/userinfo?x=1", headers=bearer(token))
        assert answer.status_code == 200
    elif shape == "post":
        answer = client.post("/userinfo", headers=bearer(token))
        assert answer.status_code == 200 and answer.json["sub"] == member.subject
    else:
        # CORS answers are the view's: only origins a client redirects to are allowed.
        answer = client.get("/userinfo", headers={**bearer(token), "Origin": "https://rp.example.test"})
        assert answer.status_code == 200
        assert answer.headers["Access-Control-Allow-Origin"] == "https://rp.example.test"
    assert flask_saw == ["/userinfo"]


def test_a_token_without_the_openid_scope_is_refused_by_the_view(client, flask_saw, make_client, app):
    """A client_credentials token names no member: UserInfo has nobody to describe."""
    service, secret = make_client(
        name="Statement batch", grant_types=["client_credentials"], scopes=["benefits:read"], first_party=True
    )
    issued = client.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "benefits:read"},
        auth=(service.client_id, secret),
    )
    assert issued.status_code == 200, issued.text
    flask_saw.clear()

    answer = client.get("/userinfo", headers=bearer(issued.json["access_token"]))

    assert flask_saw == ["/userinfo"]
    assert answer.status_code in (401, 403)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer error=")


def test_answers_in_front_of_flask_are_counted_in_the_metrics(client, make_member, rp):
    member = make_member(email="siti@example.test")
    token = signed_in_tokens(client, member, rp)["access_token"]
    before = samples(client)
    for _ in range(2):
        assert client.get("/userinfo", headers=bearer(token)).status_code == 200
    after = samples(client)
    grown = value(after, "idp_http_requests_total", endpoint="oidc.userinfo", status="200") - value(
        before, "idp_http_requests_total", endpoint="oidc.userinfo", status="200"
    )
    assert grown == 2
