"""Browser-based relying parties can read discovery and JWKS from anywhere, and reach the token
and UserInfo endpoints only from an origin some client redirects to."""

from __future__ import annotations


def test_discovery_and_jwks_are_readable_cross_origin(client):
    for path in ("/.well-known/openid-configuration", "/jwks"):
        response = client.get(path, headers={"Origin": "https://anything.example"})
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_token_preflight_from_a_registered_origin(client, make_client):
    make_client(public=True, redirect_uris=["https://spa.example.test/callback"])
    preflight = client.options(
        "/token",
        headers={
            "Origin": "https://spa.example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://spa.example.test"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Origin" in preflight.headers["Vary"]
    posted = client.post(
        "/token", data={"grant_type": "authorization_code"}, headers={"Origin": "https://spa.example.test"}
    )
    assert posted.headers["Access-Control-Allow-Origin"] == "https://spa.example.test"


def test_token_and_userinfo_refuse_unknown_origins(client, make_client):
    make_client(public=True, redirect_uris=["https://spa.example.test/callback"])
    for method, path in (("options", "/token"), ("post", "/token"), ("get", "/userinfo")):
        response = getattr(client, method)(path, headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in response.headers


def test_hosted_pages_send_no_cors_headers(client):
    response = client.get("/recovery/forgot", headers={"Origin": "https://spa.example.test"})
    assert "Access-Control-Allow-Origin" not in response.headers
