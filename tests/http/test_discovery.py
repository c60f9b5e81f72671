"""Discovery (OpenID Connect Discovery 1.0 §3, §4; RFC 8414; RFC 9207 §3) and the JWKS."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from idp import create_app
from idp.db import get_engine
from tests.helpers.oidc import ISSUER, path_of
from tests.http.test_health_and_metrics import samples, value

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_discovery_fields(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    metadata = response.json
    assert metadata["issuer"] == ISSUER
    assert metadata["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert metadata["token_endpoint"] == f"{ISSUER}/token"
    assert metadata["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert metadata["jwks_uri"] == f"{ISSUER}/jwks"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["response_modes_supported"] == ["query", "form_post"]
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert metadata["subject_types_supported"] == ["public"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert sorted(metadata["token_endpoint_auth_methods_supported"]) == [
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
    ]
    assert metadata["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert metadata["introspection_endpoint"] == f"{ISSUER}/introspect"
    assert "private_key_jwt" in metadata["revocation_endpoint_auth_methods_supported"]
    assert metadata["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert "offline_access" in metadata["scopes_supported"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "profile", "email", "phone", "membership"} <= set(metadata["scopes_supported"])
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert "plain" not in metadata["code_challenge_methods_supported"]
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False
    assert set(metadata["ui_locales_supported"]) == {"id", "en"}
    assert {"sub", "auth_time", "nonce", "membership_number"} <= set(metadata["claims_supported"])


def test_discovery_advertises_only_prompts_that_work(client):
    prompts = client.get("/.well-known/openid-configuration").json["prompt_values_supported"]
    assert "none" in prompts and "login" in prompts and "consent" in prompts


@pytest.mark.settings(server={"issuer": "https://login.example.test"})
def test_discovery_follows_the_issuer_setting_exactly(client):
    """Discovery §4.3: the issuer in the document is exactly the configured one."""
    metadata = client.get("/.well-known/openid-configuration", base_url="https://login.example.test").json
    assert metadata["issuer"] == "https://login.example.test"
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "revocation_endpoint",
        "introspection_endpoint",
    ):
        assert metadata[name].startswith("https://login.example.test/"), name


def test_discovery_issuer_does_not_follow_the_host_header(client):
    """The issuer is the setting, never derived from the request (Host header injection)."""
    metadata = client.get("/.well-known/openid-configuration", base_url="http://attacker.example").json
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == f"{ISSUER}/token"


def test_every_advertised_endpoint_answers(client):
    metadata = client.get("/.well-known/openid-configuration").json
    for name in ("authorization_endpoint", "userinfo_endpoint", "jwks_uri"):
        url = metadata[name]
        assert url.startswith(ISSUER + "/")
        response = client.get(path_of(url))
        assert response.status_code != 404, name
        assert response.status_code < 500, name
    # The token endpoint answers a POST (with an OAuth error, not "not found").
    token = client.post(path_of(metadata["token_endpoint"]), data={"grant_type": "authorization_code"})
    assert token.status_code in (400, 401)
    assert token.json["error"]
    # UserInfo without a token: 401 with a Bearer challenge (RFC 6750 §3).
    userinfo = client.get(path_of(metadata["userinfo_endpoint"]))
    assert userinfo.status_code == 401
    assert userinfo.headers["WWW-Authenticate"].lower().startswith("bearer")  # scheme is case-insensitive


def test_discovery_is_cacheable_and_public(client):
    response = client.get("/.well-known/openid-configuration")
    assert "public" in response.headers["Cache-Control"]
    assert not response.headers.getlist("Set-Cookie")


def test_jwks_has_public_keys_only(client):
    response = client.get("/jwks")
    assert response.status_code == 200
    assert response.mimetype in ("application/jwk-set+json", "application/json")
    keys = response.json["keys"]
    assert keys
    algs = {key["alg"] for key in keys}
    assert {"RS256", "ES256"} <= algs
    kids = [key["kid"] for key in keys]
    assert len(kids) == len(set(kids)), "kids must be unique"
    for key in keys:
        assert not PRIVATE_JWK_MEMBERS & set(key), key["kid"]
        assert key["use"] == "sig"
        assert key["kty"] in ("RSA", "EC")
        if key["kty"] == "RSA":
            assert set(key) >= {"n", "e"}
            # 2048 bits at least: n is base64url of >= 256 bytes.
            assert len(key["n"]) >= 342
        else:
            assert key["crv"] == "P-256" and set(key) >= {"x", "y"}
    assert not response.headers.getlist("Set-Cookie")


def test_jwks_is_stable_between_requests(client):
    first = client.get("/jwks").json
    second = client.get("/jwks").json
    assert first == second


def test_userinfo_without_credentials_gets_a_bare_bearer_challenge(client):
    # RFC 6750 §3.1: no error code when the request carries no authentication at all.
    response = client.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.headers["Cache-Control"] == "no-store"


def test_discovery_carries_a_strong_etag_and_answers_304_when_it_matches(client):
    first = client.get("/.well-known/openid-configuration")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert client.get("/.well-known/openid-configuration").headers["ETag"] == etag

    revalidated = client.get("/.well-known/openid-configuration", headers={"If-None-Match": etag})
    assert revalidated.status_code == 304
    assert revalidated.data == b""
    assert revalidated.headers["ETag"] == etag
    assert "public" in revalidated.headers["Cache-Control"]
    # If-None-Match compares weakly (RFC 9110 §13.1.2), in a list, and "*" matches any.
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        assert client.get("/.well-known/openid-configuration", headers={"If-None-Match": header}).status_code == 304


def test_discovery_answers_the_document_when_the_etag_is_stale(client):
    response = client.get("/.well-known/openid-configuration", headers={"If-None-Match": '"an-older-document"'})
    assert response.status_code == 200
    assert response.json["issuer"] == ISSUER


def test_discovery_etag_names_the_document_the_same_in_every_worker(app, app_config):
    """Two processes with the same settings send the same bytes and ETag (a cache in front of
    several workers or hosts revalidates against any of them); other settings, another ETag."""
    first = app.test_client().get("/.well-known/openid-configuration")
    with separate_app(app_config) as same:
        second = same.test_client().get("/.well-known/openid-configuration")
    elsewhere = {**app_config, "server": {**app_config["server"], "issuer": "https://elsewhere.example.test"}}
    with separate_app(elsewhere) as other:
        third = other.test_client().get("/.well-known/openid-configuration", base_url="https://elsewhere.example.test")
    assert first.data == second.data and first.headers["ETag"] == second.headers["ETag"]
    assert third.headers["ETag"] != first.headers["ETag"]
    assert third.json["issuer"] == "https://elsewhere.example.test"


@contextmanager
def separate_app(config: dict):
    application = create_app(config)
    try:
        yield application
    finally:
        get_engine(application).dispose()


# --- the fast path (issue 12): prepared bytes, answered in front of Flask ---------------------

PUBLIC_DOCUMENTS = ["/.well-known/openid-configuration", "/jwks"]
# What differs between two answers of the same document by nature.
PER_ANSWER = {"Date", "Server", "X-Request-ID"}


@pytest.mark.parametrize("path", PUBLIC_DOCUMENTS)
def test_public_documents_answer_head_with_the_headers_of_get(client, path):
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(got.data))
    assert {k: v for k, v in head.headers.items() if k not in PER_ANSWER} == {
        k: v for k, v in got.headers.items() if k not in PER_ANSWER
    }
    assert head.headers["X-Request-ID"] != got.headers["X-Request-ID"]


@pytest.mark.parametrize("path", PUBLIC_DOCUMENTS)
def test_public_documents_carry_every_header_of_an_answer_from_flask(client, path):
    """The security headers, a request id and CORS for any origin, as the hooks add elsewhere."""
    response = client.get(path, headers={"Origin": "https://spa.example.test"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert len(response.headers["X-Request-ID"]) == 32
    assert "Set-Cookie" not in response.headers
    assert "Access-Control-Allow-Origin" not in client.get(path).headers


def test_jwks_from_the_process_cache_is_the_jwks_flask_reads_fresh(app, app_config, client):
    """With keys.cache_seconds = 0 every JWKS is read from the database by Flask's view; the
    default answers from this process's snapshot in front of Flask. Both send the same."""
    headers = {"Origin": "https://spa.example.test"}
    client.get("/jwks")  # the snapshot is loaded
    cached = client.get("/jwks", headers=headers)
    never_cached = {**app_config, "keys": {**app_config.get("keys", {}), "cache_seconds": 0}}
    with separate_app(never_cached) as uncached:
        fresh = uncached.test_client().get("/jwks", headers=headers)
    assert cached.data == fresh.data
    assert {k: v for k, v in cached.headers.items() if k not in PER_ANSWER} == {
        k: v for k, v in fresh.headers.items() if k not in PER_ANSWER
    }


@pytest.mark.settings(keys={"cache_seconds": 60})  # a loaded machine must not outlast the cache
def test_cached_public_documents_take_no_database_connection(app, client):
    from sqlalchemy import event

    client.get("/jwks")  # the snapshot is loaded
    engine = get_engine(app)
    used: list[str] = []

    def checked_out(*_args):
        used.append("checkout")

    event.listen(engine.pool, "checkout", checked_out)
    try:
        for path in PUBLIC_DOCUMENTS * 3:
            assert client.get(path).status_code == 200
    finally:
        event.remove(engine.pool, "checkout", checked_out)
    assert used == []


def test_public_documents_answered_in_front_of_flask_are_counted_in_the_metrics(client):
    client.get("/jwks")  # the snapshot is loaded
    before = samples(client)
    for path in PUBLIC_DOCUMENTS * 2:
        client.get(path)
    after = samples(client)
    for endpoint in ("oidc.discovery", "oidc.jwks"):
        grown = value(after, "idp_http_requests_total", endpoint=endpoint, status="200") - value(
            before, "idp_http_requests_total", endpoint=endpoint, status="200"
        )
        assert grown == 2, endpoint
