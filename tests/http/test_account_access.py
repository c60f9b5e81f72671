"""The account pages sign the member in through the hosted login, then come back."""

from __future__ import annotations

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import Browser, csrf_token, path_of


def test_account_page_asks_for_sign_in_then_returns(client, make_member):
    member = make_member(full_name="Budi Santoso")
    started = client.get("/account/")
    assert started.status_code == 303
    login_page = client.get(path_of(started.headers["Location"]))
    assert 'data-testid="login-account"' in login_page.text
    assert 'data-testid="consent-form"' not in login_page.text

    signed_in = Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    # Nothing else to ask: the login step itself goes back to the account page.
    assert signed_in.status_code == 303
    assert signed_in.headers["Location"] == "/account/"

    page = client.get("/account/")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert 'data-testid="account-name">Budi Santoso<' in page.text


def test_sign_out_of_this_browser_ends_the_session_on_the_server(app, client, make_member):
    member = make_member()
    started = client.get("/account/")
    response = Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    while response.status_code in (302, 303):
        response = client.get(path_of(response.headers["Location"]))
    cookie = client.get_cookie("idp_session").value

    signed_out = client.post("/account/logout", data={"csrf_token": csrf_token(response.text)})
    assert signed_out.status_code == 303

    replay = app.test_client()
    replay.set_cookie("idp_session", cookie)
    assert replay.get("/account/").status_code == 303  # the old cookie no longer signs anyone in


def test_a_post_without_sign_in_is_refused(client):
    refused = client.post("/account/logout", data={})
    assert refused.status_code in (303, 400)
    assert client.get("/account/").status_code == 303
