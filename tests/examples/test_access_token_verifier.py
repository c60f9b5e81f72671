"""AccessTokenVerifier against real keys and a JWKS served over HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from examples.benefits_portal.access_tokens import (
    AccessTokenVerifier,
    InvalidAccessToken,
    KeySetUnavailable,
    www_authenticate,
)

AUDIENCE = "urn:benefit-services"
SCOPE = "benefits:read"


def make_verifier(issuer, **options) -> AccessTokenVerifier:
    return AccessTokenVerifier(
        issuer=issuer.url, audience=AUDIENCE, jwks_uri=issuer.jwks_uri, required_scope=SCOPE, **options
    )


def refusal(verifier: AccessTokenVerifier, token: str) -> InvalidAccessToken:
    with pytest.raises(InvalidAccessToken) as caught:
        verifier.verify(token)
    return caught.value


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(header: dict, claims: dict, signature: bytes = b"") -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(signature)}"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


# -- accepted ------------------------------------------------------------------


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
def test_valid_token_is_accepted(issuer, key_name, request):
    key = request.getfixturevalue(key_name)
    claims = make_verifier(issuer).verify(issuer.access_token(key))
    assert claims["sub"] == "4f9c2a7e-member"
    assert claims["client_id"] == "benefits-portal"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_access_token_media_type_is_case_insensitive(issuer, rsa_key, typ):
    make_verifier(issuer).verify(issuer.access_token(rsa_key, header={"typ": typ}))


def test_audience_may_be_one_of_several(issuer, rsa_key):
    token = issuer.access_token(rsa_key, claims={"aud": ["urn:other-service", AUDIENCE]})
    assert make_verifier(issuer).verify(token)["aud"] == ["urn:other-service", AUDIENCE]


def test_expiry_allows_the_leeway(issuer, rsa_key):
    token = issuer.access_token(rsa_key, claims={"exp": int(time.time()) - 10})
    make_verifier(issuer, leeway=30).verify(token)


def test_keys_are_cached_between_tokens(issuer, rsa_key, ec_key):
    verifier = make_verifier(issuer)
    verifier.verify(issuer.access_token(rsa_key))
    verifier.verify(issuer.access_token(ec_key))
    assert issuer.requests["jwks"] == 1


# -- refused -------------------------------------------------------------------


@pytest.mark.parametrize("typ", ["JWT", "application/jwt", "dpop+jwt", "at+jwt+x"])
def test_wrong_type_is_refused(issuer, rsa_key, typ):
    # An ID token from the same issuer is a validly signed JWT; typ is what tells them apart.
    error = refusal(make_verifier(issuer), issuer.access_token(rsa_key, header={"typ": typ}))
    assert error.error == "invalid_token"
    assert "not a JWT access token" in error.description


def test_missing_type_is_refused(issuer, rsa_key):
    claims = claims_of(issuer.access_token(rsa_key))
    token = jwt.encode({"alg": "RS256", "kid": rsa_key.kid}, claims, rsa_key, algorithms=["RS256"], default_type=None)
    assert "not a JWT access token" in refusal(make_verifier(issuer), token).description


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"iss": "http://127.0.0.1:1"}, "iss claim"),
        ({"aud": "urn:other-service"}, "aud claim"),
        ({"aud": ["urn:other-service"]}, "aud claim"),
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"iat": int(time.time()) + 3600}, "iat claim"),
        ({"nbf": int(time.time()) + 3600}, "nbf claim"),
    ],
)
def test_wrong_claims_are_refused(issuer, rsa_key, claims, description):
    error = refusal(make_verifier(issuer), issuer.access_token(rsa_key, claims=claims))
    assert (error.error, error.status_code) == ("invalid_token", 401)
    assert description in error.description


def test_issuer_must_match_exactly(issuer, rsa_key):
    token = issuer.access_token(rsa_key, claims={"iss": issuer.url + "/"})
    assert "iss claim" in refusal(make_verifier(issuer), token).description


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"])
def test_required_claims_must_be_present(issuer, rsa_key, claim):
    error = refusal(make_verifier(issuer), issuer.access_token(rsa_key, without=(claim,)))
    assert error.description == f"The token lacks the {claim} claim"


@pytest.mark.parametrize("scope", ["openid profile", "benefits:readonly", "benefits:write", ""])
def test_missing_scope_is_insufficient_scope(issuer, rsa_key, scope):
    error = refusal(make_verifier(issuer), issuer.access_token(rsa_key, claims={"scope": scope}))
    assert (error.error, error.status_code) == ("insufficient_scope", 403)


def test_absent_scope_claim_is_insufficient_scope(issuer, rsa_key):
    error = refusal(make_verifier(issuer), issuer.access_token(rsa_key, without=("scope",)))
    assert error.error == "insufficient_scope"


def test_tampered_claims_fail_the_signature(issuer, rsa_key):
    token = issuer.access_token(rsa_key)
    header, _, signature = token.split(".")
    forged_claims = claims_of(token) | {"sub": "someone-else"}
    forged = f"{header}.{b64(json.dumps(forged_claims).encode())}.{signature}"
    assert refusal(make_verifier(issuer), forged).description == "The token signature is invalid"


def test_tampered_signature_is_refused(issuer, ec_key):
    header, payload, signature = issuer.access_token(ec_key).split(".")
    flipped = ("A" if signature[10] != "A" else "B").join([signature[:10], signature[11:]])
    error = refusal(make_verifier(issuer), f"{header}.{payload}.{flipped}")
    assert error.error == "invalid_token"


def test_alg_none_is_refused(issuer, rsa_key):
    claims = claims_of(issuer.access_token(rsa_key))
    unsigned = compact({"alg": "none", "typ": "at+jwt", "kid": rsa_key.kid}, claims)
    error = refusal(make_verifier(issuer), unsigned)
    assert error.description == "The token is not signed with an accepted algorithm"
    assert issuer.requests["jwks"] == 0  # refused before any key lookup


def test_hs256_is_refused(issuer, rsa_key):
    claims = claims_of(issuer.access_token(rsa_key))
    secret_key = OctKey.generate_key(256, auto_kid=True)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": secret_key.kid}
    token = jwt.encode(header, claims, secret_key, algorithms=["HS256"])
    assert refusal(make_verifier(issuer), token).description == "The token is not signed with an accepted algorithm"


def test_hs256_signed_with_the_public_key_is_refused(issuer, rsa_key):
    # The classic key-confusion forgery: HMAC keyed with the published RSA key.
    header = {"alg": "HS256", "typ": "at+jwt", "kid": rsa_key.kid}
    claims = claims_of(issuer.access_token(rsa_key))
    signing_input = compact(header, claims).rsplit(".", 1)[0]
    signature = hmac.new(rsa_key.as_bytes(private=False), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    assert refusal(make_verifier(issuer), token).error == "invalid_token"


def test_algorithm_must_match_the_published_key(issuer, rsa_key, ec_key):
    # Header says ES256 but names the RSA key's kid: no key fits, so it is unknown.
    header = {"alg": "ES256", "typ": "at+jwt", "kid": rsa_key.kid}
    token = jwt.encode(header, claims_of(issuer.access_token(ec_key)), ec_key, algorithms=["ES256"])
    assert refusal(make_verifier(issuer), token).description == "The token is signed with an unknown key"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "e30.e30.e30", "é.é.é", "a.b", "a.b.c.d.e"])
def test_malformed_tokens_are_refused(issuer, token):
    assert refusal(make_verifier(issuer), token).error == "invalid_token"


def test_token_without_kid_is_refused(issuer, rsa_key):
    claims = claims_of(issuer.access_token(rsa_key))
    token = jwt.encode({"alg": "RS256", "typ": "at+jwt"}, claims, rsa_key, algorithms=["RS256"])
    assert refusal(make_verifier(issuer), token).description == "The token header has no key id"


# -- key rotation --------------------------------------------------------------


def test_unknown_kid_refetches_and_accepts_after_rotation(issuer, rsa_key):
    verifier = make_verifier(issuer, min_refetch_interval=0)
    verifier.verify(issuer.access_token(rsa_key))
    rotated_key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)
    token = issuer.access_token(rotated_key)

    assert refusal(verifier, token).description == "The token is signed with an unknown key"
    assert issuer.requests["jwks"] == 2  # the cached set, then one refetch

    issuer.publish(rsa_key, rotated_key)
    assert verifier.verify(token)["sub"] == "4f9c2a7e-member"
    assert issuer.requests["jwks"] == 3


def test_unknown_kids_do_not_hammer_the_jwks_endpoint(issuer, rsa_key):
    verifier = make_verifier(issuer, min_refetch_interval=60)
    verifier.verify(issuer.access_token(rsa_key))
    stranger = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, auto_kid=True)
    for _ in range(5):
        refusal(verifier, issuer.access_token(stranger))
    assert issuer.requests["jwks"] == 1


def test_unreachable_jwks_is_a_server_problem(issuer, rsa_key):
    verifier = AccessTokenVerifier(issuer.url, AUDIENCE, f"{issuer.url}/no-such-jwks", required_scope=SCOPE)
    with pytest.raises(KeySetUnavailable):
        verifier.verify(issuer.access_token(rsa_key))


def test_cached_keys_survive_an_idp_outage(issuer, rsa_key):
    verifier = make_verifier(issuer, jwks_max_age=0, min_refetch_interval=0)
    verifier.verify(issuer.access_token(rsa_key))
    issuer.published_keys = [{"kty": "nonsense"}]  # what an outage looks like to the parser
    assert verifier.verify(issuer.access_token(rsa_key))["sub"] == "4f9c2a7e-member"


# -- RFC 6750 challenge ----------------------------------------------------------


def test_www_authenticate_values():
    assert www_authenticate() == "Bearer"
    expired = InvalidAccessToken("invalid_token", "The token has expired")
    assert www_authenticate(expired) == 'Bearer error="invalid_token", error_description="The token has expired"'
    scope = InvalidAccessToken("insufficient_scope", 'Needs "benefits:read"\\')
    assert www_authenticate(scope, scope=SCOPE) == (
        'Bearer error="insufficient_scope", error_description="Needs benefits:read", scope="benefits:read"'
    )
