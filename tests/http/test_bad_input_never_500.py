"""Issue 10 §6: bad input never reaches a 500. NUL and invalid UTF-8 are refused once for the
whole request; no request input goes into an error description (Authlib refuses a double
quote there, which was a 500 at /authorize); and every route of the app, walked from
``app.url_map``, answers such input without a 500, signed in and not, on SQLite and (with
IDP_TEST_DATABASE_URL) on PostgreSQL."""

from __future__ import annotations

import re

import pytest

from tests.helpers.account import sign_in_to_account
from tests.helpers.oidc import AuthorizationRequest, assert_error_page, assert_error_redirect, csrf_token

# Every route is tried many times from one address: the rate limits are tested elsewhere.
pytestmark = pytest.mark.settings(ratelimit={"enabled": False})

# Percent-encoded, as they would arrive on the wire.
REFUSED = {"nul": "%00", "invalid_utf8": "%FF%FE", "nul_inside": "abc%00def", "overlong": "%C0%AF"}
ODD_BUT_VALID = {"quote": "%22", "quotes_and_brackets": "%22%27%3C%3E%5C", "long": "x" * 3000, "space": "%20"}

PARAMETERS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "acr_values",
    "claims",
    "ui_locales",
    "login_hint",
    "code_challenge",
    "code_challenge_method",
    "identifier",
    "password",
    "code",
    "grant_type",
    "client_secret",
    "csrf_token",
    "email",
    "membership_number",
    "nik",
    "birth_date",
]


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method


def _url(rule, value: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", value, rule.rule)


def _walk(client, app, values: dict[str, str]) -> list[tuple]:
    """Every route and method, with ``value`` in every path argument, in every parameter of the
    query, and in every field of a form (with this browser's real CSRF token, so the views
    themselves see the input); the answers that were a 500."""
    failures = []
    token = csrf_token(client.get("/recovery/forgot").text)
    for name, value in values.items():
        query = "&".join(f"{parameter}={value}" for parameter in PARAMETERS)
        for rule, method in _routes(app):
            url = f"{_url(rule, value)}?{query}"
            if method == "GET":
                response = client.get(url)
            else:
                response = client.open(
                    url,
                    method=method,
                    data="&".join(
                        [f"csrf_token={token}"]
                        + [f"{parameter}={value}" for parameter in PARAMETERS if parameter != "csrf_token"]
                    ),
                    content_type="application/x-www-form-urlencoded",
                )
            if response.status_code >= 500:
                failures.append((name, method, rule.rule, response.status_code))
    return failures


def test_no_route_answers_nul_or_invalid_utf8_with_a_500_anonymous(app, client, rp):
    assert _walk(client, app, REFUSED) == []


def test_no_route_answers_odd_input_with_a_500_anonymous(app, client, rp):
    assert _walk(client, app, ODD_BUT_VALID) == []


def test_no_route_answers_bad_input_with_a_500_signed_in(app, client, rp, make_member):
    sign_in_to_account(client, make_member())
    assert _walk(client, app, {**REFUSED, **ODD_BUT_VALID}) == []


@pytest.mark.parametrize("value", list(REFUSED.values()))
def test_nul_and_invalid_utf8_are_refused_for_the_whole_request(client, value):
    for response in (
        client.get(f"/recovery/forgot?identifier={value}"),
        client.post("/recovery/forgot", data=f"identifier={value}", content_type="application/x-www-form-urlencoded"),
        client.post(f"/account/sessions/{value}/end"),
        client.post(f"/account/apps/{value}/revoke"),
        client.get(f"/token?x={value}", headers={"Accept": "application/json"}),
    ):
        assert response.status_code == 400, (value, response.status_code)
    json_answer = client.post("/token", data=f"grant_type={value}", content_type="application/x-www-form-urlencoded")
    assert json_answer.status_code == 400
    assert json_answer.json["error"] == "invalid_request"


def test_plain_utf8_still_passes(client):
    answered = client.get("/recovery/forgot?identifier=%E2%82%AC%C3%A9")
    assert answered.status_code == 200


def test_a_double_quote_in_response_type_is_an_error_page_not_a_500(client, rp):
    assert_error_page(client.get("/authorize?response_type=%22"), "unsupported_response_type")
    request = AuthorizationRequest(rp.client_id, extra={"response_type": '"'})
    params = assert_error_redirect(client.get(request.url()), request, "unsupported_response_type")
    assert '"' not in params.get("error_description", "")


@pytest.mark.parametrize("parameter", ["prompt", "response_type", "scope", "acr_values", "max_age", "claims"])
def test_no_error_description_repeats_the_request(client, rp, parameter):
    marker = "zq-marker-%22"
    request = AuthorizationRequest(rp.client_id, extra={parameter: 'zq-marker-"'})
    response = client.get(request.url())
    assert response.status_code < 500
    assert "zq-marker" not in response.headers.get("Location", "")
    assert "zq-marker" not in response.text
    assert marker not in response.text
