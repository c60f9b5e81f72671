"""The benefits portal through Flask's test client, against a LocalIssuer over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from examples.benefits_portal import create_app
from examples.benefits_portal.config import DEFAULTS, ENV_FILE_SETTING, MissingSetting

CLIENT_SECRET = "portal-test-secret"  # what the LocalIssuer expects
PORTAL_URL = "http://portal.test"
MEMBER_SUB = "4f9c2a7e-member"


@pytest.fixture
def portal_config(issuer, tmp_path):
    return {
        "IDP_ISSUER": issuer.url,
        "PORTAL_CLIENT_ID": "benefits-portal",
        "PORTAL_CLIENT_SECRET": CLIENT_SECRET,
        "PORTAL_BASE_URL": PORTAL_URL,
        "BENEFITS_AUDIENCE": "urn:benefit-services",
        "PORTAL_ENV_FILE": str(tmp_path / "no-such.env"),
        "TESTING": True,
    }


@pytest.fixture
def resource_server(portal_config, issuer):
    """The portal as a plain resource server: JWKS location given, no discovery."""
    app = create_app({**portal_config, "IDP_JWKS_URI": issuer.jwks_uri})
    return app.test_client()


@pytest.fixture
def browser(portal_config):
    """The portal as a member's browser sees it, discovering idp from its issuer URL."""
    return create_app(portal_config).test_client()


def sign_in(browser, issuer, iss=None):
    """Run the authorization code flow; return the portal's answer to the callback."""
    started = browser.get("/login")
    assert started.status_code == 302
    callback_query = issuer.approve(started.headers["Location"], iss=iss)
    return browser.get(f"/callback?{callback_query}")


# -- /api/balance (resource server) ---------------------------------------------


def test_balance_api_answers_a_valid_token(resource_server, issuer, ec_key):
    response = resource_server.get("/api/balance", headers={"Authorization": f"Bearer {issuer.access_token(ec_key)}"})

    assert response.status_code == 200
    statement = response.get_json()
    assert statement["sub"] == MEMBER_SUB
    assert statement["currency"] == "IDR"
    programs = {program["code"]: program for program in statement["programs"]}
    assert set(programs) == {"JHT", "JP", "JKK", "JKM"}
    assert isinstance(programs["JHT"]["balance"], int) and programs["JHT"]["balance"] > 0
    assert isinstance(programs["JP"]["balance"], int)
    assert programs["JKK"]["coverage"] in {"active", "inactive"}
    assert "balance" not in programs["JKM"]
    assert response.headers["Cache-Control"] == "no-store"
    assert issuer.requests["discovery"] == 0


def test_balance_figures_are_deterministic_per_member(resource_server, issuer, rsa_key):
    def statement_for(sub):
        token = issuer.access_token(rsa_key, claims={"sub": sub})
        return resource_server.get("/api/balance", headers={"Authorization": f"Bearer {token}"}).get_json()

    assert statement_for("member-a") == statement_for("member-a")
    assert statement_for("member-a")["programs"] != statement_for("member-b")["programs"]


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz"])
def test_balance_api_without_a_bearer_token_asks_for_one(resource_server, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = resource_server.get("/api/balance", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"  # no error code: RFC 6750 section 3.1


@pytest.mark.parametrize(
    "make_token",
    [
        lambda issuer, key: issuer.access_token(key, claims={"exp": 1_000_000_000}),
        lambda issuer, key: issuer.access_token(key, claims={"aud": "urn:other-service"}),
        lambda issuer, key: issuer.access_token(key, header={"typ": "JWT"}),
        lambda issuer, key: "not-a-token",
        lambda issuer, key: "",
    ],
    ids=["expired", "wrong-audience", "id-token-type", "garbage", "empty"],
)
def test_balance_api_refuses_bad_tokens(resource_server, issuer, rsa_key, make_token):
    token = make_token(issuer, rsa_key)
    response = resource_server.get("/api/balance", headers={"Authorization": f"bearer {token}"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token", error_description="')
    assert response.get_json()["error"] == "invalid_token"


def test_balance_api_requires_the_benefits_scope(resource_server, issuer, rsa_key):
    token = issuer.access_token(rsa_key, claims={"scope": "openid profile"})
    response = resource_server.get("/api/balance", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert 'scope="benefits:read"' in response.headers["WWW-Authenticate"]


def test_balance_api_says_503_when_keys_cannot_be_loaded(portal_config, issuer, rsa_key):
    app = create_app({**portal_config, "IDP_JWKS_URI": f"{issuer.url}/no-such-jwks"})
    token = issuer.access_token(rsa_key)
    response = app.test_client().get("/api/balance", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.get_json()["error"] == "temporarily_unavailable"


def test_balance_api_finds_the_jwks_through_discovery(browser, issuer, rsa_key):
    response = browser.get("/api/balance", headers={"Authorization": f"Bearer {issuer.access_token(rsa_key)}"})
    assert response.status_code == 200
    assert issuer.requests["discovery"] == 1


# -- pages and sign-in ------------------------------------------------------------


def test_signed_out_home_page_offers_sign_in_with_security_headers(browser):
    response = browser.get("/")

    assert response.status_code == 200
    assert b'href="/login"' in response.data
    assert b"<script" not in response.data
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_login_sends_a_pkce_authorization_request(browser, issuer):
    response = browser.get("/login")

    location = urlsplit(response.headers["Location"])
    request = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{issuer.url}/authorize"
    assert request["client_id"] == "benefits-portal"
    assert request["redirect_uri"] == f"{PORTAL_URL}/callback"
    assert request["scope"] == "openid profile email membership benefits:read"
    assert request["code_challenge_method"] == "S256"
    assert len(request["code_challenge"]) == 43
    assert request["state"] and request["nonce"]
    assert response.headers["Set-Cookie"].startswith("benefits_portal_session=")


def test_sign_in_shows_the_member_and_their_balances(browser, issuer):
    response = sign_in(browser, issuer)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"

    home = browser.get("/").get_data(as_text=True)
    assert "Siti Rahayu" in home
    assert "22041984001" in home
    assert 'href="/balances"' in home

    balances = browser.get("/balances")
    assert balances.status_code == 200
    page = balances.get_data(as_text=True)
    assert "Jaminan Hari Tua" in page and "Jaminan Pensiun" in page
    assert "Rp " in page
    assert issuer.requests["userinfo"] == 1


def test_callback_from_another_issuer_is_rejected(browser, issuer):
    response = sign_in(browser, issuer, iss="https://attacker.example")

    assert response.status_code == 400
    assert issuer.requests["token"] == 0  # the code never reaches a token endpoint
    assert "Siti Rahayu" not in browser.get("/").get_data(as_text=True)


def test_callback_without_iss_is_rejected_when_idp_promises_it(browser, issuer):
    started = browser.get("/login")
    query = issuer.approve(started.headers["Location"])
    without_iss = "&".join(part for part in query.split("&") if not part.startswith("iss="))
    assert browser.get(f"/callback?{without_iss}").status_code == 400


def test_callback_with_a_foreign_state_is_rejected(browser, issuer):
    browser.get("/login")
    assert browser.get(f"/callback?code=abc&state=forged&iss={issuer.url}").status_code == 400
    assert issuer.requests["token"] == 0


def test_id_token_for_another_client_is_rejected(browser, issuer):
    # Authlib alone checks only iss; the portal adds the aud check of OIDC Core 3.1.3.7.
    issuer.id_token_overrides = {"aud": "some-other-client", "azp": "benefits-portal"}
    assert sign_in(browser, issuer).status_code == 400


def test_id_token_with_a_replayed_nonce_is_rejected(browser, issuer):
    issuer.id_token_overrides = {"nonce": "from-another-session"}
    assert sign_in(browser, issuer).status_code == 400


def test_cancelled_sign_in_says_so(browser, issuer):
    started = browser.get("/login")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    response = browser.get(f"/callback?error=access_denied&state={state}&iss={issuer.url}")
    assert response.status_code == 400
    assert "Sign-in cancelled" in response.get_data(as_text=True)


def test_balances_page_without_the_scope_is_forbidden(browser, issuer):
    issuer.access_token_overrides = {"scope": "openid profile"}
    sign_in(browser, issuer)
    assert browser.get("/balances").status_code == 403


def test_signed_out_balances_page_redirects_home(browser):
    response = browser.get("/balances")
    assert (response.status_code, response.headers["Location"]) == (302, "/")


def test_logout_needs_the_form_token(browser, issuer):
    sign_in(browser, issuer)

    assert browser.post("/logout", data={"csrf_token": "guess"}).status_code == 400
    assert "Siti Rahayu" in browser.get("/").get_data(as_text=True)

    with browser.session_transaction() as session:
        csrf_token = session["csrf_token"]
    response = browser.post("/logout", data={"csrf_token": csrf_token})
    assert (response.status_code, response.headers["Location"]) == (303, "/")
    assert "Siti Rahayu" not in browser.get("/").get_data(as_text=True)


# -- settings -----------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch):
    for name in [*DEFAULTS, ENV_FILE_SETTING]:
        monkeypatch.delenv(name, raising=False)


def test_client_secret_is_required(clean_environment, tmp_path):
    with pytest.raises(MissingSetting, match="PORTAL_CLIENT_SECRET"):
        create_app({"PORTAL_ENV_FILE": str(tmp_path / "no-such.env")})


def test_settings_come_from_the_env_file(clean_environment, tmp_path, monkeypatch):
    env_file = tmp_path / "benefits_portal.env"
    env_file.write_text("# written by make run\nPORTAL_CLIENT_SECRET=from-file\nIDP_ISSUER='http://127.0.0.1:5999'\n")
    monkeypatch.setenv("PORTAL_ENV_FILE", str(env_file))
    monkeypatch.setenv("IDP_ISSUER", "http://127.0.0.1:5888")  # the environment wins over the file

    app = create_app()

    assert app.config["PORTAL_CLIENT_SECRET"] == "from-file"
    assert app.config["IDP_ISSUER"] == "http://127.0.0.1:5888"
    assert app.config["PORTAL_CLIENT_ID"] == "benefits-portal"
    assert app.config["BENEFITS_AUDIENCE"] == "urn:benefit-services"
