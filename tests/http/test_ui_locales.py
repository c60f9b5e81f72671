"""The language of the hosted pages: the RP's ui_locales (OpenID Connect Core §3.1.2.1), then
the browser's Accept-Language, then the default (`id`). Asserted on <html lang>, not on text,
so that the test does not depend on the translation catalogs."""

from __future__ import annotations

import re

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, csrf_token, login_page_uid


def _lang(response) -> str:
    match = re.search(r'<html[^>]*\blang="([^"]*)"', response.text)
    assert match, response.text[:200]
    return match.group(1)


def _login_page(client, rp, accept_language: str | None = None, **extra):
    headers = {"Accept-Language": accept_language} if accept_language else {}
    uid = login_page_uid(client.get(AuthorizationRequest(rp.client_id, extra=extra).url(), headers=headers))
    page = client.get(f"/interaction/{uid}", headers=headers)
    assert page.status_code == 200
    return uid, page


@pytest.mark.parametrize(
    ("ui_locales", "accept_language", "expected"),
    [
        ("en", None, "en"),
        ("id", None, "id"),
        ("en", "id", "en"),  # ui_locales wins over the browser
        ("id", "en-US,en;q=0.9", "id"),
        ("en-GB", None, "en"),  # a regional tag selects its language
        ("fr en", "id", "en"),  # first supported one in the RP's order
        ("fr de", "en", "en"),  # none supported: the browser's language
        ("fr", None, "id"),  # nothing usable: the default
    ],
)
def test_ui_locales_chooses_the_page_language(client, rp, ui_locales, accept_language, expected):
    _, page = _login_page(client, rp, accept_language, ui_locales=ui_locales)
    assert _lang(page) == expected


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [("en", "en"), ("en-US,en;q=0.8", "en"), ("id-ID,id;q=0.9,en;q=0.5", "id"), ("fr-FR", "id"), (None, "id")],
)
def test_accept_language_fallback(client, rp, accept_language, expected):
    _, page = _login_page(client, rp, accept_language)
    assert _lang(page) == expected


def test_ui_locales_stays_in_force_for_the_failed_login_page(client, make_member, rp):
    """The language comes with the request, on every page of it, not only the first."""
    member = make_member()
    uid, page = _login_page(client, rp, "id", ui_locales="en")
    failed = client.post(
        f"/interaction/{uid}/login",
        headers={"Accept-Language": "id"},
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": "wrong password!"},
    )
    assert failed.status_code == 401
    assert _lang(failed) == "en"


def test_ui_locales_stays_in_force_for_the_consent_page(client, make_member, make_client):
    member = make_member()
    third_party, _ = make_client(first_party=False)
    uid, page = _login_page(client, third_party, "id", ui_locales="en")
    logged_in = client.post(
        f"/interaction/{uid}/login",
        headers={"Accept-Language": "id"},
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    consent = client.get(logged_in.headers["Location"], headers={"Accept-Language": "id"})
    assert 'data-testid="consent-form"' in consent.text
    assert _lang(consent) == "en"


def test_ui_locales_of_one_request_does_not_leak_into_another(client, rp):
    _login_page(client, rp, "id", ui_locales="en")
    _, page = _login_page(client, rp, "id")
    assert _lang(page) == "id"


def test_error_page_language_follows_ui_locales(client):
    response = client.get(AuthorizationRequest("no-such-client", extra={"ui_locales": "en"}).url())
    assert response.status_code == 400
    assert _lang(response) == "en"
