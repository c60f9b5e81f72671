"""The portal's logout-token check (Back-Channel Logout 1.0 §2.6), with keys made in the test:
a good token passes once; every way a token can be wrong is refused."""

from __future__ import annotations

import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from examples.benefits_portal.logout import (
    BACKCHANNEL_LOGOUT_EVENT,
    EndedSessions,
    InvalidLogoutToken,
    LogoutTokenVerifier,
)

ISSUER = "https://idp.example.test"
CLIENT_ID = "benefits-portal"


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})


@pytest.fixture
def verifier(key) -> LogoutTokenVerifier:
    jwks = {"keys": [key.as_dict(private=False)]}
    return LogoutTokenVerifier(ISSUER, CLIENT_ID, "https://idp.example.test/jwks", fetch=lambda url: jwks)


def token(key, typ: str = "logout+jwt", **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": f"jti-{time.monotonic_ns()}",
        "sub": "member-1",
        "sid": "session-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": "RS256", "kid": "k1", "typ": typ}, claims, key)


def test_a_good_token_passes_once(verifier, key):
    good = token(key)
    assert verifier.verify(good)["sid"] == "session-1"
    with pytest.raises(InvalidLogoutToken, match="replayed"):
        verifier.verify(good)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example.test"}, "issuer"),
        ({"aud": "another-client"}, "client"),
        ({"events": None}, "event"),
        ({"events": {"http://example.test/other": {}}}, "event"),
        ({"nonce": "n"}, "nonce"),
        ({"sid": None, "sub": None}, "sid nor sub"),
        ({"jti": None}, "jti"),
        ({"iat": int(time.time()) - 3600, "exp": int(time.time()) + 60}, "iat"),
        ({"exp": int(time.time()) - 3600}, "expired"),
    ],
)
def test_wrong_tokens_are_refused(verifier, key, overrides, reason):
    with pytest.raises(InvalidLogoutToken, match=reason):
        verifier.verify(token(key, **overrides))


def test_an_id_token_is_not_a_logout_token(verifier, key):
    with pytest.raises(InvalidLogoutToken, match="typ"):
        verifier.verify(token(key, typ="JWT"))


def test_a_token_signed_by_another_key_is_refused(verifier):
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(InvalidLogoutToken, match="signature"):
        verifier.verify(token(other))


def test_ended_sessions_by_sid_and_by_subject():
    ended = EndedSessions()
    ended.record("session-1", "member-1")
    assert ended.has_ended("session-1", "member-1", signed_in_at=0)
    assert not ended.has_ended("session-2", "member-1", signed_in_at=0)
    ended.record(None, "member-2")
    assert ended.has_ended("session-9", "member-2", signed_in_at=0)
    # A sign-in after the logout is not affected.
    assert not ended.has_ended("session-9", "member-2", signed_in_at=time.time() + 1)
