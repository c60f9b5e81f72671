"""idp as relying parties built on other code than idp's see it: pyoidc (the `oic` package,
an OpenID-certified RP library with its own JOSE, pyjwkest) runs discovery, the authorization
code flow with PKCE, the ID token's validation, UserInfo and a refresh over HTTP; PyJWT, as a
benefit service would, verifies the access token offline against the published JWKS.

The other RP-side tests use joserfc and Authlib, which come from the same authors as the
server's own token code: a mistake shared by both sides would pass there and fail here.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt as pyjwt
import pytest
import requests
from oic import rndstr
from oic.oauth2.message import AuthorizationErrorResponse
from oic.oic import Client
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, OpenIDSchema, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from idp.db import get_session
from idp.services.clients import NewClient, create_client
from tests.conftest import DEMO_PASSWORD
from tests.helpers.live import LiveBrowser

REDIRECT_URI = "http://127.0.0.1:5002/callback"
AUDIENCE = "urn:benefit-services"  # tokens.access_token_audience, the default


@pytest.fixture(params=[("client_secret_basic", "RS256"), ("client_secret_post", "ES256")], ids=lambda p: "-".join(p))
def relying_party(live_idp, request):
    """A pyoidc client that learnt idp from its discovery document, registered statically,
    with one way of authenticating at /token and one ID-token algorithm."""
    app, issuer = live_idp
    auth_method, id_token_alg = request.param
    with app.app_context():
        db = get_session()
        client, secret = create_client(
            db,
            NewClient(
                name="pyoidc relying party",
                redirect_uris=[REDIRECT_URI],
                scopes=["openid", "profile", "email", "membership"],
                first_party=True,  # no consent page: this test is about the protocol
                grant_types=["authorization_code", "refresh_token"],
                always_issue_refresh_token=True,
                token_endpoint_auth_method=auth_method,
                id_token_signed_response_alg=id_token_alg,
            ),
        )
        db.commit()
        client_id = client.client_id
    rp = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    rp.provider_config(issuer)  # refuses a document whose issuer is not this URL
    rp.store_registration_info(
        RegistrationResponse(
            client_id=client_id,
            client_secret=secret,
            redirect_uris=[REDIRECT_URI],
            token_endpoint_auth_method=auth_method,
            id_token_signed_response_alg=id_token_alg,
        )
    )
    rp.redirect_uris = [REDIRECT_URI]
    rp.auth_method = auth_method
    return rp, issuer


def _authorization_url(rp: Client, state: str, nonce: str) -> tuple[str, str]:
    pkce, verifier = rp.add_code_challenge()
    request = rp.construct_AuthorizationRequest(
        request_args={
            "response_type": "code",
            "scope": ["openid", "profile", "email", "membership"],
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "nonce": nonce,
            **pkce,
        }
    )
    return request.request(rp.authorization_endpoint), verifier


def _member_signs_in(authorization_url: str, identifier: str) -> str:
    """The member's browser: login page, password, and back; returns the callback's query."""
    parts = urlsplit(authorization_url)
    browser = LiveBrowser(f"{parts.scheme}://{parts.netloc}")
    interaction = browser.open_login(f"{parts.path}?{parts.query}")
    signed_in = browser.post_login(interaction, browser.login_form_token(interaction), identifier, DEMO_PASSWORD)
    # The login step answers the authorization request itself.
    assert signed_in.status_code == 303, signed_in.text[:300]
    callback = urlsplit(signed_in.headers["Location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT_URI
    return callback.query


def test_pyoidc_signs_a_member_in_with_pkce_and_refreshes(relying_party, make_member):
    rp, issuer = relying_party
    member = make_member(email="dewi@example.test", full_name="Dewi Lestari")
    state, nonce = rndstr(), rndstr()
    authorization_url, verifier = _authorization_url(rp, state, nonce)

    query = _member_signs_in(authorization_url, "dewi@example.test")

    # RFC 9207: the answer names its issuer, and it is the one discovery gave.
    assert parse_qs(query)["iss"] == [issuer]
    answer = rp.parse_response(AuthorizationResponse, info=query, sformat="urlencoded")
    assert answer["state"] == state
    tokens = rp.do_access_token_request(
        state=state,
        request_args={"code": answer["code"], "code_verifier": verifier, "redirect_uri": REDIRECT_URI},
        authn_method=rp.auth_method,
    )
    assert isinstance(tokens, AccessTokenResponse), tokens.to_dict()
    # pyoidc has checked the ID token's signature against the JWKS, its iss, aud, exp and iat.
    id_token = tokens["id_token"]
    assert pyjwt.get_unverified_header(id_token.jwt)["alg"] == rp.registration_response["id_token_signed_response_alg"]
    assert id_token["iss"] == issuer
    assert id_token["aud"] == [rp.client_id]
    assert id_token["nonce"] == nonce
    assert id_token["sub"] == member.subject
    assert tokens["token_type"].lower() == "bearer"

    userinfo = rp.do_user_info_request(state=state)
    assert isinstance(userinfo, OpenIDSchema), userinfo
    assert userinfo["sub"] == member.subject
    assert userinfo["email"] == "dewi@example.test"
    assert userinfo["name"] == "Dewi Lestari"

    # A benefit service, offline: PyJWT, the published keys, our audience and issuer.
    keys = pyjwt.PyJWKClient(rp.provider_info["jwks_uri"])
    access_token = tokens["access_token"]
    signing_key = keys.get_signing_key_from_jwt(access_token)
    claims = pyjwt.decode(
        access_token,
        signing_key.key,
        algorithms=["RS256", "ES256"],
        audience=AUDIENCE,
        issuer=issuer,
        options={"require": ["exp", "iat", "sub", "jti"]},
    )
    assert claims["sub"] == member.subject
    assert claims["client_id"] == rp.client_id
    assert pyjwt.get_unverified_header(access_token)["typ"].lower() in {"at+jwt", "application/at+jwt"}
    # The ID token verified by PyJWT too, against the same keys: another JOSE implementation.
    raw_id_token = id_token.jwt  # the compact JWS pyoidc parsed
    id_claims = pyjwt.decode(
        raw_id_token,
        keys.get_signing_key_from_jwt(raw_id_token).key,
        algorithms=["RS256", "ES256"],
        audience=rp.client_id,
        issuer=issuer,
    )
    assert id_claims["nonce"] == nonce

    refreshed = rp.do_access_token_refresh(state=state, authn_method=rp.auth_method)
    assert isinstance(refreshed, AccessTokenResponse), refreshed.to_dict()
    assert refreshed["access_token"] != access_token
    assert (
        pyjwt.decode(
            refreshed["access_token"],
            keys.get_signing_key_from_jwt(refreshed["access_token"]).key,
            algorithms=["RS256", "ES256"],
            audience=AUDIENCE,
            issuer=issuer,
        )["sub"]
        == member.subject
    )


def test_pyoidc_reads_an_error_answer_with_its_state_and_issuer(relying_party):
    """prompt=none with no session at idp: the error comes back to the client (OpenID Connect
    Core §3.1.2.6), with the state and the issuer, and pyoidc parses it as an error."""
    rp, issuer = relying_party
    state = rndstr()
    request = rp.construct_AuthorizationRequest(
        request_args={
            "response_type": "code",
            "scope": ["openid"],
            "redirect_uri": REDIRECT_URI,
            "state": state,
            "nonce": rndstr(),
            "prompt": "none",
            **rp.add_code_challenge()[0],
        }
    )

    answer = requests.get(request.request(rp.authorization_endpoint), allow_redirects=False, timeout=10)

    assert answer.status_code in (302, 303), answer.text[:300]
    callback = urlsplit(answer.headers["Location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT_URI
    error = rp.parse_response(AuthorizationResponse, info=callback.query, sformat="urlencoded")
    assert isinstance(error, AuthorizationErrorResponse), error.to_dict()
    assert error["error"] == "login_required"
    assert error["state"] == state
    assert parse_qs(callback.query)["iss"] == [issuer]
