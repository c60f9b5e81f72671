"""The JWKS (Cache-Control, ETag, 304) and key rotation as relying parties live through it:
outstanding tokens keep verifying, a new key is published before it signs, and a rotation
made by another process shows within keys.cache_seconds."""

from __future__ import annotations

import time

import pytest

from idp import create_app
from idp.db import get_engine, get_session
from idp.runtime import runtime
from idp.services import keys as key_service
from tests.helpers.oidc import verify_token
from tests.http.test_refresh_tokens import sign_in, userinfo


@pytest.fixture
def member(make_member):
    return make_member()


@pytest.fixture
def registered(make_client):
    return make_client()


def rotate(app) -> list[str]:
    with app.app_context():
        db = get_session()
        made = key_service.rotate_keys(
            db, runtime(app).secrets.signing_keys, runtime(app).settings.keys.publish_ahead_seconds
        )
        db.commit()
        return [key.kid for key in made]


def test_the_jwks_has_an_etag_and_answers_304_when_unchanged(app, client):
    first = client.get("/jwks")
    assert first.status_code == 200
    assert first.mimetype == "application/jwk-set+json"
    assert first.headers["Cache-Control"] == "public, max-age=300"
    etag = first.headers["ETag"]
    assert etag.startswith('"') and len(first.json["keys"]) == 2

    again = client.get("/jwks", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag

    rotate(app)
    changed = client.get("/jwks", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert len(changed.json["keys"]) == 4
    assert all("d" not in key for key in changed.json["keys"])  # public keys only


@pytest.mark.settings(keys={"publish_ahead_seconds": 300})
def test_rotation_keeps_outstanding_tokens_valid_and_signs_with_the_new_key_later(
    app, client, member, registered, moving_clock
):
    rp, secret = registered
    before = sign_in(client, member, rp, secret, scope="openid profile")
    old_kid = verify_token(before["access_token"], client.get("/jwks").json).header["kid"]

    new_kids = rotate(app)

    # Published at once, not signing yet: relying parties fetch it before they meet it.
    jwks = client.get("/jwks").json
    assert set(new_kids) <= {key["kid"] for key in jwks["keys"]}
    during = sign_in(client, member, rp, secret, scope="openid profile")
    assert verify_token(during["access_token"], jwks).header["kid"] == old_kid

    moving_clock.advance(301)
    after = sign_in(client, member, rp, secret, scope="openid profile")
    jwks = client.get("/jwks").json
    assert verify_token(after["access_token"], jwks).header["kid"] in new_kids
    assert verify_token(after["id_token"], jwks).header["kid"] in new_kids
    # Tokens signed before the switch still verify, offline and at UserInfo.
    for tokens in (before, during):
        assert verify_token(tokens["access_token"], jwks).header["kid"] == old_kid
        verify_token(tokens["id_token"], jwks)
        assert userinfo(client, tokens["access_token"]).status_code == 200


@pytest.mark.settings(keys={"cache_seconds": 1})
def test_a_rotation_by_another_process_shows_within_the_cache_time(app, app_config, client):
    etag = client.get("/jwks").headers["ETag"]
    other = create_app(app_config)  # another process: its own cache, the same database
    try:
        with other.app_context():
            db = get_session()
            key_service.rotate_keys(db, runtime(other).secrets.signing_keys, 0)
            db.commit()
    finally:
        get_engine(other).dispose()

    time.sleep(1.1)
    assert client.get("/jwks").headers["ETag"] != etag


@pytest.mark.settings(tokens={"access_token_signing_alg": "ES256"})
def test_access_tokens_may_be_signed_with_es256(client, member, registered):
    rp, secret = registered
    tokens = sign_in(client, member, rp, secret, scope="openid profile")
    access = verify_token(tokens["access_token"], client.get("/jwks").json, algorithms=["ES256"])
    assert access.header["alg"] == "ES256" and access.header["typ"] == "at+jwt"
    assert userinfo(client, tokens["access_token"]).status_code == 200


@pytest.mark.settings(keys={"cache_seconds": 60})  # a loaded machine must not outlast the cache
def test_issuing_and_checking_tokens_reads_no_signing_key_once_cached(app, client, member, registered):
    """Issue 12: each /token read the signing keys three times and imported them again; now a
    process reads them once per keys.cache_seconds, and UserInfo builds no key set per call."""
    from sqlalchemy import event

    rp, secret = registered
    sign_in(client, member, rp, secret, scope="openid profile")  # warms the cache
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    engine = get_engine(app)
    event.listen(engine, "before_cursor_execute", record)
    try:
        tokens = sign_in(client, member, rp, secret, scope="openid profile")
        assert userinfo(client, tokens["access_token"]).status_code == 200
        assert client.get("/jwks").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements, "the listener saw the requests' queries"
    assert not [statement for statement in statements if "signing_keys" in statement]
