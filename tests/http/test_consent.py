"""Consent for third-party clients (OpenID Connect Core §3.1.2.4, prompt=consent and
consent_required in §3.1.2.1 and §3.1.2.6); first-party clients never ask."""

from __future__ import annotations

import re

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    assert_error_redirect,
    code_from,
    csrf_token,
    exchange_code,
    interaction_uid,
    path_of,
    set_cookies,
)


def _scopes_on(page_html: str) -> list[str]:
    return re.findall(r'data-scope="([^"]+)"', page_html)


def _to_consent_page(client, member, request: AuthorizationRequest, sign_in: bool = True):
    """Start the request (signing in on the way if asked) and return (uid, consent page)."""
    response = client.get(request.url())
    assert response.status_code == 303, response.status_code
    location = response.headers["Location"]
    if sign_in and 'data-testid="login-form"' in client.get(path_of(location)).text:
        response = Browser(client).login(location, member.email, DEMO_PASSWORD)
        assert response.status_code == 303
        location = response.headers["Location"]
    page = client.get(path_of(location))
    assert page.status_code == 200
    assert 'data-testid="consent-form"' in page.text, page.text[:500]
    assert page.headers["Cache-Control"] == "no-store"
    return interaction_uid(location), page


def _answer(client, uid: str, page, allow: bool):
    choice = {"allow": "Allow"} if allow else {"deny": "Deny"}
    return client.post(f"/interaction/{uid}/consent", data={"csrf_token": csrf_token(page.text), **choice})


def _finish(client, response) -> str:
    """Follow idp-internal redirects (without consenting) to the client's redirect URI."""
    for _ in range(5):
        assert response.status_code in (302, 303), (response.status_code, response.text[:300])
        location = response.headers["Location"]
        if not location.startswith("/"):
            return location
        response = client.get(location)
    raise AssertionError("no redirect to the client")


@pytest.fixture
def member(make_member):
    return make_member()


@pytest.fixture
def third_party(make_client):
    return make_client(first_party=False, name="Klaim Online")


def test_consent_page_lists_the_requested_allowed_scopes(client, member, third_party):
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id, scope="openid email membership")
    uid, page = _to_consent_page(client, member, request)
    assert _scopes_on(page.text) == ["openid", "email", "membership"]
    assert "Klaim Online" in page.text


def test_consent_page_does_not_list_scopes_the_client_may_not_have(client, member, make_client):
    rp, _ = make_client(first_party=False, scopes=["openid", "email"])
    request = AuthorizationRequest(rp.client_id, scope="openid email benefits:read made-up")
    uid, page = _to_consent_page(client, member, request)
    assert _scopes_on(page.text) == ["openid", "email"]


def test_allow_gives_a_code_with_the_consented_scope(client, member, third_party):
    rp, secret = third_party
    request = AuthorizationRequest(rp.client_id, scope="openid email")
    uid, page = _to_consent_page(client, member, request)
    location = _finish(client, _answer(client, uid, page, allow=True))
    response = exchange_code(client, code_from(location, request), request, secret=secret)
    assert response.status_code == 200, response.text
    assert response.json["scope"] == "openid email"


def test_consent_is_remembered(client, member, third_party):
    rp, _ = third_party
    first = AuthorizationRequest(rp.client_id, scope="openid email")
    uid, page = _to_consent_page(client, member, first)
    code_from(_finish(client, _answer(client, uid, page, allow=True)), first)

    second = AuthorizationRequest(rp.client_id, scope="openid email")
    response = client.get(second.url())
    assert response.status_code == 302, response.status_code
    code_from(response.headers["Location"], second)


def test_a_subset_of_consented_scopes_needs_no_new_consent(client, member, third_party):
    rp, _ = third_party
    first = AuthorizationRequest(rp.client_id, scope="openid email profile")
    uid, page = _to_consent_page(client, member, first)
    code_from(_finish(client, _answer(client, uid, page, allow=True)), first)
    second = AuthorizationRequest(rp.client_id, scope="openid email")
    assert client.get(second.url()).status_code == 302


def test_an_additional_scope_asks_again(client, member, third_party):
    rp, secret = third_party
    first = AuthorizationRequest(rp.client_id, scope="openid email")
    uid, page = _to_consent_page(client, member, first)
    code_from(_finish(client, _answer(client, uid, page, allow=True)), first)

    second = AuthorizationRequest(rp.client_id, scope="openid email membership")
    uid, page = _to_consent_page(client, member, second)
    assert "membership" in _scopes_on(page.text)
    location = _finish(client, _answer(client, uid, page, allow=True))
    response = exchange_code(client, code_from(location, second), second, secret=secret)
    assert response.json["scope"] == "openid email membership"

    # Both answers together are remembered.
    third = AuthorizationRequest(rp.client_id, scope="openid membership email")
    assert client.get(third.url()).status_code == 302


def test_prompt_consent_asks_again(client, member, third_party):
    rp, _ = third_party
    first = AuthorizationRequest(rp.client_id, scope="openid email")
    uid, page = _to_consent_page(client, member, first)
    code_from(_finish(client, _answer(client, uid, page, allow=True)), first)

    again = AuthorizationRequest(rp.client_id, scope="openid email", extra={"prompt": "consent"})
    uid, page = _to_consent_page(client, member, again, sign_in=False)
    assert 'data-testid="consent-form"' in page.text  # asked again despite the remembered consent
    code_from(_finish(client, _answer(client, uid, page, allow=True)), again)


def test_prompt_consent_for_first_party_client_does_not_ask(client, member, make_client):
    """First-party clients never ask, whatever the RP requests (the consent is implied)."""
    rp, _ = make_client(first_party=True)
    Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "consent"})
    response = client.get(request.url())
    assert response.status_code == 302
    code_from(response.headers["Location"], request)


def test_prompt_consent_on_first_sign_in_asks_after_login(client, member, third_party):
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "consent"})
    uid, page = _to_consent_page(client, member, request)
    assert 'data-testid="consent-form"' in page.text
    code_from(_finish(client, _answer(client, uid, page, allow=True)), request)


def test_prompt_none_without_consent_is_consent_required(client, member, make_client, third_party):
    first_party, _ = make_client(first_party=True, name="Portal")
    Browser(client).sign_in(AuthorizationRequest(first_party.client_id), member.email, DEMO_PASSWORD)
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert_error_redirect(client.get(request.url()), request, "consent_required")


def test_prompt_none_with_additional_scope_is_consent_required(client, member, third_party):
    rp, _ = third_party
    first = AuthorizationRequest(rp.client_id, scope="openid email")
    uid, page = _to_consent_page(client, member, first)
    code_from(_finish(client, _answer(client, uid, page, allow=True)), first)
    request = AuthorizationRequest(rp.client_id, scope="openid email phone", extra={"prompt": "none"})
    assert_error_redirect(client.get(request.url()), request, "consent_required")


def test_prompt_none_with_consent_gets_code(client, member, third_party):
    rp, _ = third_party
    first = AuthorizationRequest(rp.client_id, scope="openid email")
    uid, page = _to_consent_page(client, member, first)
    code_from(_finish(client, _answer(client, uid, page, allow=True)), first)
    request = AuthorizationRequest(rp.client_id, scope="openid email", extra={"prompt": "none"})
    response = client.get(request.url())
    assert response.status_code == 302
    code_from(response.headers["Location"], request)


def test_deny_redirects_with_access_denied(client, member, third_party):
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id)
    uid, page = _to_consent_page(client, member, request)
    response = _answer(client, uid, page, allow=False)
    params = assert_error_redirect(response, request, "access_denied")
    assert "code" not in params


def test_deny_is_not_remembered_as_consent_and_the_interaction_is_finished(client, member, third_party):
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id)
    uid, page = _to_consent_page(client, member, request)
    assert_error_redirect(_answer(client, uid, page, allow=False), request, "access_denied")

    # The answered interaction cannot be replayed to get a code after all.
    replay = _answer(client, uid, page, allow=True)
    assert replay.status_code == 400
    assert 'data-testid="interaction_expired"' in replay.text
    # Nothing was remembered: the next request asks again (and prompt=none cannot skip it).
    probe = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert_error_redirect(client.get(probe.url()), probe, "consent_required")


def test_allow_cannot_be_replayed_for_a_second_code(client, member, third_party):
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id)
    uid, page = _to_consent_page(client, member, request)
    code_from(_finish(client, _answer(client, uid, page, allow=True)), request)
    again = client.get(f"/authorize/resume/{uid}")
    assert again.status_code == 400
    assert 'data-testid="interaction_expired"' in again.text


def test_consent_post_without_csrf_token_is_refused(client, member, third_party):
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id)
    uid, page = _to_consent_page(client, member, request)
    response = client.post(f"/interaction/{uid}/consent", data={"allow": "Allow"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    probe = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    assert_error_redirect(client.get(probe.url()), probe, "consent_required")


def test_consent_page_cannot_be_answered_from_another_browser(app, client, member, third_party):
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id)
    uid, page = _to_consent_page(client, member, request)
    other = app.test_client()
    response = other.post(f"/interaction/{uid}/consent", data={"csrf_token": csrf_token(page.text), "allow": "Allow"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_first_party_client_never_shows_consent(client, member, make_client):
    rp, secret = make_client(first_party=True)
    request = AuthorizationRequest(rp.client_id, scope="openid profile email phone membership benefits:read")
    started = client.get(request.url())
    browser = Browser(client)
    logged_in = browser.login(started.headers["Location"], member.email, DEMO_PASSWORD)
    # The login step answers with the code itself: no page, and no hop, in between; 303, so
    # the browser does not post the password form again to the client (RFC 9700 §4.12).
    assert logged_in.status_code == 303, logged_in.status_code
    assert "consent-form" not in logged_in.text
    location = logged_in.headers["Location"]
    response = exchange_code(client, code_from(location, request), request, secret=secret)
    assert response.json["scope"] == "openid profile email phone membership benefits:read"


@pytest.mark.settings(server={"issuer": "https://idp.test"})
def test_consent_over_https_without_referer(client, member, third_party):
    """As for the login form: no Referer (our Referrer-Policy) must not block the answer."""
    rp, _ = third_party
    base = "https://idp.test"
    request = AuthorizationRequest(rp.client_id)
    started = client.get(request.url(), base_url=base)
    uid = interaction_uid(started.headers["Location"])
    page = client.get(f"/interaction/{uid}", base_url=base)
    logged_in = client.post(
        f"/interaction/{uid}/login",
        base_url=base,
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert logged_in.status_code == 303
    assert "__Host-idp_session" in set_cookies(logged_in)
    page = client.get(f"/interaction/{uid}", base_url=base)
    assert 'data-testid="consent-form"' in page.text
    response = client.post(
        f"/interaction/{uid}/consent", base_url=base, data={"csrf_token": csrf_token(page.text), "allow": "Allow"}
    )
    assert response.status_code == 303, response.status_code
    code_from(response.headers["Location"], request, issuer=base)


def test_resume_before_consent_gives_no_code(client, member, third_party):
    rp, _ = third_party
    request = AuthorizationRequest(rp.client_id)
    uid, _ = _to_consent_page(client, member, request)
    resumed = client.get(f"/authorize/resume/{uid}")
    assert resumed.status_code == 303
    assert resumed.headers["Location"] == f"/interaction/{uid}"
    assert 'data-testid="consent-form"' in client.get(resumed.headers["Location"]).text
