"""What every hosted page shows around its content ([ui] settings, the provider's host) and
its ways on: the program's name and logo in the header and title, the support link, the
relying party's name and host with our own host on the login page, the second-factor page's
"not you?", the 429 page's way back."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, path_of
from tests.helpers.second_factor import member_with_email_factor, sign_in_to_account


def _login_page(client, registered, **extra) -> str:
    started = client.get(AuthorizationRequest(registered.client_id, extra=extra).url())
    assert started.status_code == 303
    page = client.get(path_of(started.headers["Location"]))
    assert page.status_code == 200
    return page.text


def _testid(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no {testid}"
    return unescape(match.group(1)).strip()


@pytest.mark.settings(ui={"brand_name": "Jaminan Sosial Pekerja", "support_url": "https://help.example.test/"})
def test_configured_brand_and_support_link_on_every_page(client, make_client, make_member):
    page = _login_page(client, make_client()[0], ui_locales="id")
    assert _testid(page, "brand-name") == "Jaminan Sosial Pekerja"
    assert "· Jaminan Sosial Pekerja</title>" in page
    assert '<img class="logo" src="/static/logo.svg"' in page
    assert re.search(
        r'<a href="https://help.example.test/" data-testid="support-link">Hubungi layanan peserta</a>', page
    )
    account = sign_in_to_account(client, make_member(locale="en"))
    assert _testid(account.text, "brand-name") == "Jaminan Sosial Pekerja"
    # The account pages no longer carry "Member sign-in" as their header.
    assert "Member sign-in" not in account.text.split("<main")[0]


def test_without_a_brand_name_the_header_speaks_the_page_language(client, make_client):
    registered, _ = make_client()
    assert _testid(_login_page(client, registered, ui_locales="id"), "brand-name") == "Akun Peserta"
    english = _login_page(client, registered, ui_locales="en")
    assert _testid(english, "brand-name") == "Member account"
    assert 'data-testid="support-link"' not in english


@pytest.mark.settings(ui={"logo_path": ""})
def test_no_logo_when_none_is_configured(client, make_client):
    page = _login_page(client, make_client()[0])
    assert 'data-testid="brand-logo"' not in page
    assert 'rel="icon" href="/static/favicon.svg"' in page


def test_login_page_names_the_client_its_host_and_our_own_host(client, make_client):
    registered, _ = make_client(name="Klaim JHT", redirect_uris=["https://klaim.example.test:8443/callback"])
    page = _login_page(client, registered, ui_locales="en", redirect_uri="https://klaim.example.test:8443/callback")
    assert _testid(page, "login-client") == "to continue to Klaim JHT"
    assert _testid(page, "login-client-host") == "Afterwards you go back to klaim.example.test:8443."
    # server.issuer of the test app is http://idp.test: its host, never the request's Host.
    assert _testid(page, "provider-host") == "idp.test"


def test_second_factor_page_names_the_account_and_offers_a_fresh_start(app, client, make_client, make_member):
    member, _ = member_with_email_factor(app, make_member, email="siti.rahayu@example.test")
    registered, _ = make_client()
    request = AuthorizationRequest(registered.client_id, extra={"login_hint": member.email, "prompt": "consent"})
    started = client.get(request.url())
    challenge = client.get(
        path_of(Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD).headers["Location"])
    )
    page = client.get(path_of(challenge.headers["Location"])) if challenge.status_code == 303 else challenge
    assert "s***@example.test" in _testid(page.text, "signing-in-as")
    uid = re.search(
        r'action="/interaction/([^/"]+)/restart" class="inline" data-testid="not-you-form"', page.text
    ).group(1)
    restarted = client.post(f"/interaction/{uid}/restart", data={"csrf_token": csrf_token(page.text)})
    assert restarted.status_code == 303
    restart = urlsplit(restarted.headers["Location"])
    query = parse_qs(restart.query)
    assert restart.path == "/authorize"
    # The same request, without the hint that named this account, and a real new sign-in.
    assert query["prompt"] == ["login consent"] and "login_hint" not in query
    assert query["state"] == [request.state] and query["code_challenge"] == [request.challenge]
    # This interaction is over: its pages are gone, whoever it had fixed is forgotten.
    assert 'data-testid="interaction_expired"' in client.get(f"/interaction/{uid}/second-factor").text
    again = client.get(f"{restart.path}?{restart.query}")
    assert again.status_code == 303
    fresh = client.get(path_of(again.headers["Location"]))
    assert 'data-testid="login-form"' in fresh.text
    assert 'value="siti.rahayu@example.test"' not in fresh.text


def test_not_you_needs_the_form_token(client, make_client, make_member):
    member = make_member()
    # A third party: the interaction is still pending after the login (at its consent step).
    started = client.get(AuthorizationRequest(make_client(first_party=False)[0].client_id).url())
    location = path_of(started.headers["Location"])
    Browser(client).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    refused = client.post(f"{location}/restart", data={})
    assert refused.status_code == 400
    assert client.get(location).status_code != 400  # the interaction goes on


@pytest.mark.settings(ratelimit={"login_per_ip": "1 per minute"})
def test_the_429_page_leads_back_to_the_same_sign_in(client, make_client):
    started = Browser(client).start(AuthorizationRequest(make_client()[0].client_id))
    location = path_of(started.headers["Location"])
    token = csrf_token(client.get(location).text)
    for attempt in range(2):
        limited = client.post(
            f"{location}/login",
            data={"csrf_token": token, "identifier": "x@example.test", "password": f"guess {attempt}"},
        )
    assert limited.status_code == 429
    assert re.search(rf'<a href="{re.escape(location)}" data-testid="rate-limited-back">', limited.text)


@pytest.mark.settings(ratelimit={"activation_per_ip": "1 per minute"})
def test_the_429_page_elsewhere_leads_back_to_its_own_step(client):
    for _ in range(2):
        page = client.get("/activate")
        limited = client.post(
            "/activate",
            data={
                "csrf_token": csrf_token(page.text),
                "membership_number": "1",
                "nik": "2",
                "birth_date": "2000-01-01",
            },
        )
    assert limited.status_code == 429
    assert re.search(r'<a href="/activate" data-testid="rate-limited-back">', limited.text)
