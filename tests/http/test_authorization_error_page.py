"""The page a member sees when an authorization request is refused before its client and
redirect URI are verified: our own words in the page's language, never the library's
(English, and quoting the request); the technical detail goes to the log under the reference
the page shows."""

from __future__ import annotations

import logging
import re

import pytest

from tests.helpers.oidc import AuthorizationRequest, assert_error_page

# What Authlib says, which must never reach the page.
LIBRARY_WORDS = ("invalid_client", "does not exist on this server", "response_type=", "is not supported", "None")


def _reference(html: str) -> str:
    match = re.search(r'data-testid="authorization-error-reference">.*?<code>([0-9a-f]{32})</code>', html, re.S)
    assert match, html[:800]
    return match.group(1)


def _visible(html: str) -> str:
    body = re.sub(r"<[^>]+>", " ", html.split("<body>", 1)[1])
    return " ".join(body.split())


@pytest.mark.parametrize(
    ("query", "error", "indonesian"),
    [
        ("client_id=no-such-client&response_type=code", "invalid_client", "tidak kami kenal"),
        # /authorize without any parameter: Authlib's "response_type=The response type 'None' is not supported…"
        ("", "unsupported_response_type", "tidak kami sediakan"),
    ],
)
def test_our_own_words_in_indonesian_and_the_detail_in_the_log(client, caplog, query, error, indonesian):
    with caplog.at_level(logging.WARNING, logger="idp.authorize"):
        response = client.get(f"/authorize?{query}", headers={"Accept-Language": "id"})
    assert assert_error_page(response, error) == error
    shown = _visible(response.text)
    assert indonesian in shown
    for words in LIBRARY_WORDS:
        assert words not in shown, words
    reference = _reference(response.text)
    logged = [record for record in caplog.records if record.name == "idp.authorize"]
    assert len(logged) == 1 and logged[0].error == error and logged[0].description
    assert reference == response.headers.get("X-Request-ID", reference)


def test_an_unregistered_redirect_uri_is_explained(client, rp):
    request = AuthorizationRequest(rp.client_id, redirect_uri="https://attacker.example/callback")
    response = client.get(request.url(), headers={"Accept-Language": "en"})
    assert_error_page(response, "invalid_request")
    shown = _visible(response.text)
    assert "not registered with us" in shown
    assert "attacker.example" not in shown


def test_a_missing_redirect_uri_is_explained_too(client, rp):
    response = client.get(f"/authorize?client_id={rp.client_id}&response_type=code", headers={"Accept-Language": "en"})
    assert_error_page(response, "invalid_request")
    assert "incomplete" in _visible(response.text)
