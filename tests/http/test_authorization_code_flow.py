"""The whole sign-in flow over HTTP, with tokens verified as an independent RP would."""

from __future__ import annotations

import time

from joserfc.jwt import JWTClaimsRegistry

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    exchange_code,
    query_of,
    verify_token,
)

ISSUER = "http://idp.test"


def test_full_flow_confidential_client_with_consent(client, make_member, make_client):
    member = make_member(email="Siti@Example.test", phone="+6281234567890")
    rp, secret = make_client(first_party=False, name="Klaim Online")
    request = AuthorizationRequest(rp.client_id, scope="openid profile email phone membership benefits:read")

    location = Browser(client).sign_in(request, "siti@example.test", DEMO_PASSWORD)

    assert location.startswith(request.redirect_uri + "?")
    params = query_of(location)
    assert params["state"] == request.state
    assert params["iss"] == ISSUER
    response = exchange_code(client, params["code"], request, secret=secret)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.json
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "openid profile email phone membership benefits:read"

    jwks = client.get("/jwks").json
    assert all("d" not in key and key["kid"] and key["use"] == "sig" and key["alg"] for key in jwks["keys"])

    id_token = verify_token(tokens["id_token"], jwks)
    assert id_token.header["alg"] == "RS256"
    claims = id_token.claims
    JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": rp.client_id},
        nonce={"essential": True, "value": request.nonce},
    ).validate(claims)
    assert claims["sub"] == member.subject
    assert claims["sub"] not in (member.email, member.membership_number)
    assert abs(claims["auth_time"] - time.time()) < 30
    assert claims["amr"] == ["pwd"]
    assert claims["acr"]
    assert claims["sid"]
    assert claims["at_hash"]
    assert claims["exp"] > claims["iat"]

    access = verify_token(tokens["access_token"], jwks)
    assert access.header["typ"] == "at+jwt"
    JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": "urn:benefit-services"},
        sub={"essential": True, "value": member.subject},
        client_id={"essential": True, "value": rp.client_id},
        jti={"essential": True},
    ).validate(access.claims)
    assert "benefits:read" in access.claims["scope"].split()

    userinfo = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200
    assert userinfo.headers["Cache-Control"] == "no-store"
    assert userinfo.json == {
        "sub": member.subject,
        "name": member.full_name,
        "birthdate": "1990-01-01",
        "locale": "id",
        "email": "siti@example.test",
        "email_verified": True,
        "phone_number": "+6281234567890",
        "phone_number_verified": False,
        "membership_number": member.membership_number,
    }
    posted = client.post("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert posted.status_code == 200 and posted.json["sub"] == member.subject
