"""Security headers on every HTML page, no caching of sign-in pages, and error responses that
show nothing of the internals."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    csrf_token,
    login_page_uid,
    path_of,
)


def _csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def _assert_secure_html(response) -> None:
    assert response.mimetype == "text/html", response.mimetype
    directives = _csp_directives(response)
    assert directives.get("frame-ancestors") == ["'none'"]
    policy = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert "*" not in policy.split()
    # Scripts only from ourselves (or nowhere): never inline, never any host.
    script_sources = directives.get("script-src", directives.get("default-src"))
    assert script_sources and set(script_sources) <= {"'self'", "'none'"}
    assert directives.get("object-src") == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers.get("X-Frame-Options", "DENY") == "DENY"
    assert "Traceback" not in response.text


def _assert_no_internals(response) -> None:
    body = response.get_data(as_text=True)
    for leak in ("Traceback", 'File "', "sqlalchemy", "werkzeug.exceptions", "authlib.", "/site-packages/"):
        assert leak not in body, leak


@pytest.fixture
def member(make_member):
    return make_member()


def test_login_page_headers(client, rp):
    uid = login_page_uid(client.get(AuthorizationRequest(rp.client_id).url()))
    page = client.get(f"/interaction/{uid}")
    assert page.status_code == 200
    _assert_secure_html(page)
    assert page.headers["Cache-Control"] == "no-store"


def test_failed_login_page_headers(client, member, rp):
    uid = login_page_uid(client.get(AuthorizationRequest(rp.client_id).url()))
    page = client.get(f"/interaction/{uid}")
    failed = client.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": "wrong password!"},
    )
    assert failed.status_code == 401
    _assert_secure_html(failed)
    assert failed.headers["Cache-Control"] == "no-store"


def test_consent_page_headers(client, member, make_client):
    third_party, _ = make_client(first_party=False)
    started = client.get(AuthorizationRequest(third_party.client_id).url())
    logged_in = Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    page = client.get(path_of(logged_in.headers["Location"]))
    assert 'data-testid="consent-form"' in page.text
    _assert_secure_html(page)
    assert page.headers["Cache-Control"] == "no-store"


def test_authorization_error_page_headers(client):
    response = client.get(AuthorizationRequest("no-such-client").url())
    assert response.status_code == 400
    _assert_secure_html(response)
    _assert_no_internals(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_interaction_expired_page_headers(client):
    response = client.get("/interaction/unknown-uid")
    assert response.status_code == 400
    _assert_secure_html(response)
    _assert_no_internals(response)


def test_not_found_page_headers(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    _assert_secure_html(response)
    _assert_no_internals(response)


def test_method_not_allowed_page(client):
    response = client.delete("/authorize", headers={"Accept": "text/html"})
    assert response.status_code == 405
    _assert_secure_html(response)
    _assert_no_internals(response)


def test_home_page_headers(client):
    response = client.get("/")
    assert response.status_code in (200, 302, 303)
    if response.status_code == 200:
        _assert_secure_html(response)


def test_json_endpoints_have_nosniff_too(client):
    for response in (client.get("/jwks"), client.get("/.well-known/openid-configuration"), client.post("/token")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/authorize?client_id=%ff%fe&redirect_uri=%00",
        "/authorize?client_id=" + "a" * 5000,
        "/authorize?response_type=code&client_id=x&redirect_uri=javascript:alert(1)",
        "/authorize?max_age=%00",
        "/authorize/resume/does-not-exist",
        "/interaction/" + "%00" * 10,
        "/interaction/x/login",
        "/token",
        "/userinfo",
    ],
)
def test_odd_requests_get_a_clean_answer(client, path):
    for response in (client.get(path), client.post(path, data={"a": "\x00\udcff".encode("utf-8", "surrogatepass")})):
        assert response.status_code < 500, (path, response.status_code)
        _assert_no_internals(response)


def test_malformed_bearer_tokens_are_refused_cleanly(client):
    for value in ("Bearer", "Bearer ", "Bearer a.b.c", "Bearer " + "x" * 5000, "Basic Zm9vOmJhcg==", "Bearer ey.ey.ey"):
        response = client.get("/userinfo", headers={"Authorization": value})
        assert response.status_code in (400, 401), value
        _assert_no_internals(response)


def test_malformed_basic_credentials_are_refused_cleanly(client):
    for value in ("Basic", "Basic !!!", "Basic " + "Zm9v", "Basic OmJhcg=="):
        response = client.post(
            "/token", data={"grant_type": "authorization_code", "code": "x"}, headers={"Authorization": value}
        )
        assert response.status_code in (400, 401), value
        assert response.json["error"] in ("invalid_client", "invalid_request")
        _assert_no_internals(response)


def test_unexpected_error_shows_a_reference_and_nothing_else(app):
    """Arranged with a route that fails; asserted through HTTP only."""

    def boom():
        raise RuntimeError("database password is hunter2")

    app.add_url_rule("/test-boom", "test_boom", boom)
    browser = app.test_client()
    page = browser.get("/test-boom", headers={"Accept": "text/html"})
    assert page.status_code == 500
    assert "hunter2" not in page.text and "RuntimeError" not in page.text
    _assert_no_internals(page)
    _assert_secure_html(page)
    assert 'data-testid="server-error"' in page.text
    as_json = browser.get("/test-boom", headers={"Accept": "application/json"})
    assert as_json.status_code == 500
    assert as_json.json["error"] == "server_error" and as_json.json["request_id"]
    assert "hunter2" not in as_json.text


@pytest.mark.settings(server={"issuer": "https://idp.test"})
def test_https_issuer_sends_hsts(client, rp):
    response = client.get(AuthorizationRequest(rp.client_id).url(), base_url="https://idp.test")
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 31536000


def test_http_issuer_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/jwks").headers
