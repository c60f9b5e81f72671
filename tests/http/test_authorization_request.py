"""The authorization request, completed (issue 9): id_token_hint, response_mode (query,
form_post under the CSP, others refused), repeated parameters at /authorize and /token, the
`claims` parameter for the ID token and UserInfo, and UserInfo's WWW-Authenticate errors."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.services.assurance import ACR_PASSWORD
from tests.conftest import DEMO_PASSWORD
from tests.helpers.backchannel import verify_jws
from tests.helpers.oidc import (
    ISSUER,
    AuthorizationRequest,
    Browser,
    assert_error_page,
    assert_error_redirect,
    code_from,
    csrf_token,
    exchange_code,
    path_of,
)


@pytest.fixture
def member(make_member):
    return make_member(locale="en")


def signed_in_tokens(client, member, rp, **extra) -> dict:
    request = AuthorizationRequest(rp.client_id, extra=extra)
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    tokens = exchange_code(client, code_from(location, request), request)
    assert tokens.status_code == 200, tokens.text
    return tokens.json


def claims_of(client, token: str) -> dict:
    return verify_jws(token, client.get("/jwks").json)[1]


# --- response_mode ---------------------------------------------------------------------------

FORM_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def form_post_fields(response, action: str) -> dict[str, str]:
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"))
    assert "Location" not in response.headers
    assert f'action="{action}"' in response.text
    assert "data-auto-submit" in response.text and 'data-testid="form-post-continue"' in response.text
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in response.text  # nothing inline: idp.js (a file) submits the form
    return {name: html.unescape(value) for name, value in FORM_FIELD.findall(response.text)}


def test_form_post_delivers_the_code_in_a_posted_form(client, member, rp):
    request = AuthorizationRequest(rp.client_id, extra={"response_mode": "form_post"})
    started = client.get(request.url())
    browser = Browser(client)
    logged_in = browser.login(started.headers["Location"], member.email, DEMO_PASSWORD)
    response = logged_in
    while response.status_code in (302, 303) and response.headers["Location"].startswith("/"):
        response = client.get(path_of(response.headers["Location"]))
    fields = form_post_fields(response, request.redirect_uri)
    assert fields["state"] == request.state and fields["iss"] == ISSUER
    assert exchange_code(client, fields["code"], request).status_code == 200
    # With the session (no interaction), the code is posted at once too.
    again = AuthorizationRequest(rp.client_id, extra={"response_mode": "form_post"})
    fields = form_post_fields(client.get(again.url()), again.redirect_uri)
    assert fields["state"] == again.state and "code" in fields


def test_the_auto_submit_script_is_served_from_our_origin(client):
    with client.get("/static/idp.js") as script:
        assert script.status_code == 200 and "data-auto-submit" in script.text


def test_form_post_errors_are_posted_too(client, rp):
    request = AuthorizationRequest(rp.client_id, extra={"response_mode": "form_post", "prompt": "none"})
    fields = form_post_fields(client.get(request.url()), request.redirect_uri)
    assert fields == {"error": "login_required", "state": request.state, "iss": ISSUER} | (
        {"error_description": fields["error_description"]} if "error_description" in fields else {}
    )


def test_a_refused_consent_is_posted_too(client, member, make_client):
    third_party, _ = make_client(public=True, first_party=False)
    request = AuthorizationRequest(third_party.client_id, extra={"response_mode": "form_post"})
    started = client.get(request.url())
    answer = Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    consent_path = path_of(answer.headers["Location"])
    page = client.get(consent_path)
    assert 'data-testid="consent-form"' in page.text
    refused = client.post(consent_path + "/consent", data={"csrf_token": csrf_token(page.text), "deny": "Deny"})
    fields = form_post_fields(refused, request.redirect_uri)
    assert fields["error"] == "access_denied" and fields["state"] == request.state and fields["iss"] == ISSUER


def test_form_post_keeps_the_registered_query_in_the_action(client, make_client):
    registered, _ = make_client(public=True, redirect_uris=["https://rp.example.test/cb?tenant=7"])
    request = AuthorizationRequest(
        registered.client_id,
        redirect_uri="https://rp.example.test/cb?tenant=7",
        extra={"response_mode": "form_post", "prompt": "none"},
    )
    fields = form_post_fields(client.get(request.url()), "https://rp.example.test/cb?tenant=7")
    assert fields["error"] == "login_required" and "tenant" not in fields


@pytest.mark.parametrize("mode", ["fragment", "jwt", "form_post.jwt", "web_message"])
def test_other_response_modes_are_refused_to_the_client(client, rp, mode):
    request = AuthorizationRequest(rp.client_id, extra={"response_mode": mode})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


# --- repeated parameters ---------------------------------------------------------------------


def test_repeated_parameter_at_authorize_goes_back_to_the_client(client, rp):
    request = AuthorizationRequest(rp.client_id)
    for name, value in (("nonce", "other"), ("scope", "openid"), ("state", "two"), ("code_challenge", "x" * 43)):
        answer = client.get(request.url() + "&" + urlencode({name: value}))
        params = assert_error_redirect(answer, request, "invalid_request")
        assert name in params.get("error_description", ""), params


def test_repeated_client_id_or_redirect_uri_gets_our_page(client, rp):
    request = AuthorizationRequest(rp.client_id)
    assert_error_page(client.get(request.url() + "&" + urlencode({"client_id": rp.client_id})), "invalid_request")
    assert_error_page(
        client.get(request.url() + "&" + urlencode({"redirect_uri": request.redirect_uri})), "invalid_request"
    )


def test_repeated_parameter_at_the_token_endpoint(client, member, rp):
    request = AuthorizationRequest(rp.client_id)
    code = code_from(Browser(client).sign_in(request, member.email, DEMO_PASSWORD), request)
    body = urlencode(
        [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code", code),
            ("redirect_uri", request.redirect_uri),
            ("code_verifier", request.verifier),
            ("client_id", rp.client_id),
        ]
    )
    answer = client.post("/token", data=body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400
    assert answer.json["error"] == "invalid_request"
    assert answer.headers["Cache-Control"] == "no-store"
    # The code was not spent by the refused request.
    assert exchange_code(client, code, request).status_code == 200


# --- id_token_hint ---------------------------------------------------------------------------


def test_a_hint_naming_the_member_signed_in_passes_prompt_none(client, member, rp, moving_clock):
    tokens = signed_in_tokens(client, member, rp)
    moving_clock.advance(700)  # the hint has expired: that is fine
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none", "id_token_hint": tokens["id_token"]})
    answer = client.get(request.url())
    assert answer.status_code == 302
    code_from(answer.headers["Location"], request)


def test_a_hint_naming_someone_else(client, app, member, make_member, rp):
    other = make_member()
    other_tokens = signed_in_tokens(app.test_client(), other, rp)
    signed_in_tokens(client, member, rp)
    silent = AuthorizationRequest(rp.client_id, extra={"prompt": "none", "id_token_hint": other_tokens["id_token"]})
    assert_error_redirect(client.get(silent.url()), silent, "login_required")
    # Without prompt=none: a new sign-in.
    interactive = AuthorizationRequest(rp.client_id, extra={"id_token_hint": other_tokens["id_token"]})
    answer = client.get(interactive.url())
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/interaction/")
    page = client.get(answer.headers["Location"])
    assert 'name="password"' in page.text


def test_a_hint_without_a_session_and_prompt_none(client, app, member, rp):
    tokens = signed_in_tokens(app.test_client(), member, rp)
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none", "id_token_hint": tokens["id_token"]})
    assert_error_redirect(client.get(request.url()), request, "login_required")


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("kind", ["foreign_key", "alg_none", "foreign_issuer", "access_token", "garbage"])
def test_a_hint_that_is_not_ours_is_refused_to_the_client(client, app, member, rp, kind):
    tokens = signed_in_tokens(client, member, rp)
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": member.subject, "aud": rp.client_id, "iat": now, "exp": now + 600}
    if kind == "foreign_key":
        hint = jwt.encode({"alg": "RS256", "kid": "x"}, claims, RSAKey.generate_key(2048))
    elif kind == "alg_none":
        hint = f"{_b64({'alg': 'none'})}.{_b64(claims)}."
    elif kind == "foreign_issuer":
        from idp.db import get_session
        from idp.runtime import runtime
        from idp.security.jose import sign_jwt_with
        from idp.services import keys

        with app.app_context():
            signer = keys.signer(get_session(), runtime().secrets.signing_keys, "RS256")
            hint = sign_jwt_with(signer.key, signer.kid, signer.alg, {**claims, "iss": "https://evil.example.test"})
    elif kind == "access_token":
        hint = tokens["access_token"]
    else:
        hint = "garbage"
    request = AuthorizationRequest(rp.client_id, extra={"id_token_hint": hint})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


# --- the claims parameter --------------------------------------------------------------------


def test_claims_put_scope_claims_into_the_id_token(client, member, rp):
    asked = {"id_token": {"email": {"essential": True}, "name": None, "phone_number": None}}
    tokens = signed_in_tokens(client, member, rp, scope="openid email", claims=json.dumps(asked))
    claims = claims_of(client, tokens["id_token"])
    assert claims["email"] == member.email
    # Not covered by the granted scope (profile, phone): not released, however asked.
    assert "name" not in claims and "phone_number" not in claims


def test_claims_with_a_value_that_does_not_match_are_left_out(client, member, rp):
    asked = {"id_token": {"email": {"value": "someone.else@example.test"}, "email_verified": {"values": [True]}}}
    tokens = signed_in_tokens(client, member, rp, scope="openid email", claims=json.dumps(asked))
    claims = claims_of(client, tokens["id_token"])
    assert "email" not in claims and claims["email_verified"] is True


def test_claims_for_userinfo(client, member, rp):
    asked = {"userinfo": {"email": None, "membership_number": {"essential": True}}}
    tokens = signed_in_tokens(client, member, rp, scope="openid email membership", claims=json.dumps(asked))
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json
    assert info["email"] == member.email and info["membership_number"] == member.membership_number
    assert "email" not in claims_of(client, tokens["id_token"])


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[1, 2]",
        json.dumps({"id_token": []}),
        json.dumps({"userinfo": {"email": "yes"}}),
        json.dumps({"id_token": {"email": {"essential": "true"}}}),
        json.dumps({"id_token": {"acr": {"values": "x"}}}),
    ],
)
def test_a_malformed_claims_parameter_is_refused_to_the_client(client, rp, value):
    request = AuthorizationRequest(rp.client_id, extra={"claims": value})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_claims_sub_value_naming_someone_else_with_prompt_none(client, member, rp):
    signed_in_tokens(client, member, rp)
    asked = {"id_token": {"sub": {"value": "someone-else"}}}
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none", "claims": json.dumps(asked)})
    assert_error_redirect(client.get(request.url()), request, "login_required")
    mine = {"id_token": {"sub": {"value": member.subject}}}
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none", "claims": json.dumps(mine)})
    code_from(client.get(request.url()).headers["Location"], request)


def test_essential_acr_in_claims_is_in_the_id_token(client, member, rp):
    asked = {"id_token": {"acr": {"essential": True, "values": [ACR_PASSWORD]}}}
    tokens = signed_in_tokens(client, member, rp, claims=json.dumps(asked))
    assert claims_of(client, tokens["id_token"])["acr"] == ACR_PASSWORD


def test_discovery_advertises_the_completed_request(client):
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["claims_parameter_supported"] is True
    assert metadata["response_modes_supported"] == ["query", "form_post"]


# --- UserInfo errors (RFC 6750 §3) -----------------------------------------------------------


def test_userinfo_invalid_token_challenge(client):
    answer = client.get("/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge


def test_userinfo_revoked_token_challenge(client, member, rp):
    tokens = signed_in_tokens(client, member, rp)
    client.get("/logout", query_string={"id_token_hint": tokens["id_token"]})
    answer = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert answer.status_code == 401 and 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_userinfo_insufficient_scope_challenge(client, member, rp):
    request = AuthorizationRequest(rp.client_id, scope="benefits:read")
    code = code_from(Browser(client).sign_in(request, member.email, DEMO_PASSWORD), request)
    tokens = exchange_code(client, code, request).json
    answer = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert answer.status_code == 403
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="insufficient_scope"' in challenge
    assert 'scope="openid"' in challenge
