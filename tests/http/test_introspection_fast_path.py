# ruff: noqa: F811 - the fixtures imported from test_revocation_introspection and test_userinfo_fast_path
"""Introspection's fast path (issue 12): a resource server's plain request is answered in
front of Flask (``web/protocol/introspection.py``) with the view's answer, active or not; wrong
credentials, reached limits and anything unusual are the view's. The reference is an app with
``keys.cache_seconds = 0``: its fast path reads the form, gives way, and the view answers
(so it also shows the form is handed on intact)."""

from __future__ import annotations

import time

import pytest
from joserfc import jws
from sqlalchemy import delete, event

from idp.db import get_engine, get_session
from idp.models import SigningKey
from tests.http.test_health_and_metrics import samples, value
from tests.http.test_refresh_tokens import sign_in, userinfo
from tests.http.test_revocation_introspection import (  # noqa: F401  (fixtures)
    DEFAULT_AUDIENCE,
    app_client,
    basic,
    make_resource_server,
    member,
    pensions,
    revoke,
)
from tests.http.test_userinfo_fast_path import comparable, flask_saw, through_flask  # noqa: F401  (fixtures)

# The fast path needs a fresh key snapshot; a loaded machine must not outlast the cache.
pytestmark = pytest.mark.settings(keys={"cache_seconds": 60})


@pytest.fixture
def keys_loaded(client):
    """This process's key snapshot, which the fast path needs, loaded."""
    assert client.get("/jwks").status_code == 200


def ask(client, credentials: tuple[str, str], token: str, in_form: bool = False, **headers):
    if in_form:
        data = {"token": token, "client_id": credentials[0], "client_secret": credentials[1]}
        return client.post("/introspect", data=data, headers=headers)
    return client.post("/introspect", data={"token": token}, headers={**basic(*credentials), **headers})


@pytest.mark.parametrize("case", ["active", "active, form credentials", "revoked", "other audience", "refresh", "junk"])
def test_the_fast_answer_is_the_views_answer(
    app, client, through_flask, flask_saw, member, app_client, make_resource_server, case
):
    registered, secret = app_client
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    other = make_resource_server("https://other.example.test", "Other")
    tokens = sign_in(client, member, registered, secret)
    token, asking = tokens["access_token"], benefits
    if case == "revoked":
        assert revoke(client, registered.client_id, secret, token).status_code == 200
    elif case == "other audience":
        asking = other
    elif case == "refresh":
        token = tokens["refresh_token"]
    elif case == "junk":
        token = "a.b.c"
    in_form = case == "active, form credentials"
    flask_saw.clear()

    fast = ask(app.test_client(), asking, token, in_form=in_form)  # a resource server has no cookies

    assert flask_saw == [], "answered in front of Flask"
    assert fast.status_code == 200
    assert fast.json["active"] is case.startswith("active")
    assert comparable(fast) == comparable(ask(through_flask, asking, token, in_form=in_form))
    assert fast.headers["Cache-Control"] == "no-store" and len(fast.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("case", ["active", "revoked", "junk"])
def test_a_fast_answer_is_one_statement(app, client, flask_saw, member, app_client, make_resource_server, case):
    """The credentials and the token's record are read together: one round trip to the
    database a request (two, one after the other, would double the wait on PostgreSQL)."""
    registered, secret = app_client
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    token = sign_in(client, member, registered, secret)["access_token"]
    if case == "revoked":
        assert revoke(client, registered.client_id, secret, token).status_code == 200
    elif case == "junk":
        token = "a.b.c"
    ask(app.test_client(), benefits, token)  # the standing connection opened (a first read)
    statements: list[str] = []
    engine = get_engine(app)

    def counted(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", counted)
    flask_saw.clear()
    try:
        answered = ask(app.test_client(), benefits, token)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert flask_saw == [], "answered in front of Flask"
    assert answered.status_code == 200 and answered.json["active"] is (case == "active")
    assert len(statements) == 1, statements


def test_wrong_credentials_are_refused_by_the_view(client, through_flask, flask_saw, make_resource_server):
    name, _secret = make_resource_server(DEFAULT_AUDIENCE)
    for who in ((name, "not-the-secret"), ("rs-unknown", "whatever")):
        flask_saw.clear()
        refused = ask(client, who, "a.b.c")
        assert flask_saw == ["/introspect"]
        assert refused.status_code == 401 and refused.json == {"error": "invalid_client"}
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="introspection"'
        assert comparable(refused) == comparable(ask(through_flask, who, "a.b.c"))


@pytest.mark.settings(ratelimit={"client_auth_failures_per_ip_and_client": "2 per minute"})
def test_after_failures_the_right_secret_is_refused_too_until_the_window_passes(client, make_resource_server):
    name, secret = make_resource_server(DEFAULT_AUDIENCE)
    for _ in range(2):
        assert ask(client, (name, "wrong"), "a.b.c").status_code == 401
    limited = ask(client, (name, secret), "a.b.c")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # Counted per address: another address is not held back.
    assert client.post(
        "/introspect", data={"token": "a.b.c"}, headers=basic(name, secret), environ_base={"REMOTE_ADDR": "192.0.2.9"}
    ).json == {"active": False}


@pytest.mark.settings(ratelimit={"token_per_client": "3 per minute"})
def test_a_resource_servers_requests_count_against_its_limit_in_front_of_flask(
    client, flask_saw, keys_loaded, make_resource_server
):
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    flask_saw.clear()
    for _ in range(3):
        assert ask(client, benefits, "a.b.c").status_code == 200
    assert flask_saw == []
    assert ask(client, benefits, "a.b.c").status_code == 429
    assert flask_saw == ["/introspect"]


@pytest.mark.parametrize("cookie, query", [(True, ""), (False, "?token=a.b.c")])
def test_unusual_requests_are_the_views(client, flask_saw, keys_loaded, make_resource_server, cookie, query):
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    assert ask(client, benefits, "a.b.c").status_code == 200 and flask_saw == ["/jwks"]  # the plain one is not
    flask_saw.clear()
    if cookie:
        client.set_cookie("idp_session", "x")
    client.post(f"/introspect{query}", data={"token": "a.b.c"}, headers=basic(*benefits))
    assert flask_saw == ["/introspect"]


def test_a_cross_site_post_is_refused_by_the_view(client, keys_loaded, make_resource_server):
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    refused = ask(client, benefits, "a.b.c", Origin="https://elsewhere.example.test")
    assert refused.status_code == 400  # web/cross_site_posts.py


def test_a_repeated_field_is_the_views(client, flask_saw, keys_loaded, make_resource_server):
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    flask_saw.clear()
    answer = client.post(
        "/introspect",
        data="token=a.b.c&token=d.e.f",
        content_type="application/x-www-form-urlencoded",
        headers=basic(*benefits),
    )
    assert flask_saw == ["/introspect"]
    assert answer.status_code == 200


def test_answers_in_front_of_flask_are_counted_in_the_metrics(client, make_resource_server):
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    before = samples(client)
    for _ in range(2):
        assert ask(client, benefits, "a.b.c").status_code == 200
    after = samples(client)
    grown = value(after, "idp_http_requests_total", endpoint="oidc.introspection", status="200") - value(
        before, "idp_http_requests_total", endpoint="oidc.introspection", status="200"
    )
    assert grown == 2


@pytest.mark.settings(keys={"cache_seconds": 1})
def test_a_token_answered_before_is_refused_once_revoked_or_its_key_withdrawn(
    app, client, flask_saw, member, app_client, make_resource_server
):
    """Both fast paths remember the tokens whose signature they verified (one parse and
    signature check per token and key set, ``jose.VerifiedTokens``). What they remember must
    not outlive a revocation, nor the key that signed the token."""
    registered, secret = app_client
    benefits = make_resource_server(DEFAULT_AUDIENCE)
    revoked, withdrawn = (sign_in(client, member, registered, secret)["access_token"] for _ in range(2))
    for token in (revoked, withdrawn):
        for _ in range(2):  # the second answer comes from what was remembered
            assert ask(app.test_client(), benefits, token).json["active"] is True
            assert userinfo(app.test_client(), token).status_code == 200
    flask_saw.clear()

    assert revoke(client, registered.client_id, secret, revoked).status_code == 200
    assert ask(app.test_client(), benefits, revoked).json == {"active": False}
    assert userinfo(app.test_client(), revoked).status_code == 401

    # The key that signed the token is withdrawn (as a prune does, or another process);
    # within keys.cache_seconds every process stops accepting it.
    kid = jws.extract_compact(withdrawn.encode()).protected["kid"]
    with app.app_context():
        db = get_session()
        assert db.execute(delete(SigningKey).where(SigningKey.kid == kid)).rowcount == 1
        db.commit()
    time.sleep(1.1)
    assert ask(app.test_client(), benefits, withdrawn).json == {"active": False}
    refused = userinfo(app.test_client(), withdrawn)
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "/userinfo" in flask_saw, "the refusals are the view's"
