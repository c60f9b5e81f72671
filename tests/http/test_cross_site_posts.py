"""Every browser form post must come from our own pages: a CSRF token, and no foreign Origin."""

from __future__ import annotations

from tests.helpers.oidc import csrf_token


def test_forgot_password_post_from_another_site_is_refused(client):
    token = csrf_token(client.get("/recovery/forgot").text)
    refused = client.post(
        "/recovery/forgot",
        data={"csrf_token": token, "identifier": "siti@example.test"},
        headers={"Origin": "https://evil.example"},
    )
    assert refused.status_code == 400
    assert 'data-testid="reset_requested"' not in refused.text


def test_forgot_password_post_from_our_own_origin_is_accepted(client):
    token = csrf_token(client.get("/recovery/forgot").text)
    accepted = client.post(
        "/recovery/forgot",
        data={"csrf_token": token, "identifier": "siti@example.test"},
        headers={"Origin": "http://idp.test"},
    )
    assert accepted.status_code == 200
    assert 'data-testid="reset_requested"' in accepted.text


def test_forgot_password_post_without_csrf_token_is_refused(client):
    client.get("/recovery/forgot")
    assert client.post("/recovery/forgot", data={"identifier": "siti@example.test"}).status_code == 400


def test_token_endpoint_is_not_subject_to_the_origin_check(client, make_client):
    registered, secret = make_client()
    response = client.post(
        "/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://rp.example.test/callback"},
        auth=(registered.client_id, secret),
        headers={"Origin": "https://rp.example.test"},
    )
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
