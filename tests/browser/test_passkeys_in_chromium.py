"""Passkeys in Chromium with a virtual authenticator (the DevTools Protocol's WebAuthn domain,
through Playwright's CDP session: a platform authenticator with resident keys and user
verification). idp is served with an issuer equal to its own origin, http://localhost:PORT (a
secure context, and "localhost" is a valid RP id where 127.0.0.1 is not).

A member adds a passkey on the Security page, uses it as a second factor for a relying party
asking for the phishing-resistant acr (which the ID token then carries), signs in with it
without a password, is refused on another origin (the same idp behind another port: what a
relaying phishing proxy would be), and once it is removed, it no longer works."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask import request as flask_request
from playwright.sync_api import Page

from idp import create_app
from idp.db import get_engine
from idp.runtime import runtime
from idp.services.assurance import ACR_PHISHING_RESISTANT
from idp.services.clients import NewClient, create_client
from idp.services.outbound import drain
from tests.conftest import DEMO_PASSWORD, stop_worker
from tests.helpers.live import free_port, serve_in_thread
from tests.helpers.oidc import AuthorizationRequest, verify_token
from tests.helpers.outbox import read_outbox


@dataclass
class PasskeySite:
    idp_url: str
    idp_app: object
    client_id: str
    outbox_dir: Path
    # The relying party's redirect URI, served on 127.0.0.1, and the URLs it was called with.
    rp_callback: str
    callbacks: list[str]

    def mail_subjects(self, to: str) -> list[str]:
        drain(self.idp_app)
        return [mail.subject for mail in read_outbox(self.outbox_dir) if to in mail.to]


@pytest.fixture
def passkey_site(app_config):
    port, rp_port = free_port(), free_port()
    issuer = f"http://localhost:{port}"
    rp_callback = f"http://127.0.0.1:{rp_port}/callback"
    idp_app = create_app(
        {**app_config, "server": {**app_config["server"], "issuer": issuer}, "logging": {"level": "WARNING"}}
    )
    from idp.db import get_session

    with idp_app.app_context():
        db = get_session()
        client, _ = create_client(
            db,
            NewClient(
                name="Klaim Online",
                redirect_uris=[rp_callback],
                scopes=["openid", "profile"],
                first_party=True,
                public=True,
            ),
        )
        db.commit()
        client_id = client.client_id
    outbox_dir = Path(runtime(idp_app).settings.server.instance_path) / "outbox"
    try:
        callbacks: list[str] = []
        with serve_in_thread(idp_app, port), serve_in_thread(relying_party(callbacks), rp_port):
            yield PasskeySite(issuer, idp_app, client_id, outbox_dir, rp_callback, callbacks)
    finally:
        stop_worker(idp_app)
        get_engine(idp_app).dispose()


def virtual_authenticator(page: Page) -> tuple[object, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def user_present(cdp, authenticator_id: str, present: bool) -> None:
    """Whether the virtual authenticator answers at once (the member touches it). Off, the
    login page's autofill request stays pending, as it does until a member picks a passkey."""
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator_id, "enabled": present})


def credentials(cdp, authenticator_id: str) -> list[dict]:
    return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]


def relying_party(seen: list[str]) -> Flask:
    """The relying party's callback: notes the URL (with the code) it was called with."""
    callback = Flask("relying_party")

    @callback.get("/callback")
    def back():
        seen.append(flask_request.url)
        return "<!doctype html><title>RP</title><p>back</p>"

    return callback


@contextmanager
def relying_party_callback(site: PasskeySite):
    """Yields the callback URLs the relying party gets from here on."""
    site.callbacks.clear()
    yield site.callbacks


def id_token_claims(site: PasskeySite, request: AuthorizationRequest, callback_url: str) -> dict:
    code = parse_qs(urlsplit(callback_url).query)["code"][0]
    tokens = requests.post(
        f"{site.idp_url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": site.rp_callback,
            "client_id": site.client_id,
            "code_verifier": request.verifier,
        },
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    jwks = requests.get(f"{site.idp_url}/jwks", timeout=30).json()
    return verify_token(tokens.json()["id_token"], jwks).claims


def authorize(page: Page, site: PasskeySite, request: AuthorizationRequest, base_url: str | None = None) -> None:
    page.goto((base_url or site.idp_url) + request.url())
    page.wait_for_selector("[data-testid=login-form]")
    # The autofill request must be pending before the test lets the authenticator answer:
    # asked after that, Chromium's virtual authenticator answers it at once and signs the
    # member in before the button under test is clicked (a race seen on CI).
    page.wait_for_selector("form[data-autofill=offered]", state="attached")


@pytest.mark.parametrize("language", ["id", "en"])
def test_passkey_enrolled_used_as_second_factor_and_passwordless_then_removed(
    passkey_site, make_member, open_page, page_checks, shots, language
):
    site = passkey_site
    member = make_member(locale=language)
    page = open_page(language)
    cdp, authenticator_id = virtual_authenticator(page)

    # Signed in with the password, the member adds a passkey on the Security page.
    page.goto(f"{site.idp_url}/account/")
    page.wait_for_selector("[data-testid=login-form]")
    assert page.is_visible("[data-testid=passkey-sign-in]"), "the button shows where the browser has passkeys"
    assert page.get_attribute("#identifier", "autocomplete") == "username webauthn"
    page_checks.check(page, "login with passkey button")
    shots(page, f"login-with-passkey-{language}")
    page.fill("#identifier", member.email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=account-summary]")
    page.goto(f"{site.idp_url}/account/security/")
    page.wait_for_selector("[data-testid=passkey-explained]")
    page_checks.check(page, "security with passkey explained")
    page.click("[data-testid=add-passkey]")
    page.wait_for_selector("[data-testid=passkey-setup-form]")
    page_checks.check(page, "add a passkey")
    shots(page, f"add-passkey-{language}")
    page.fill("[data-testid=passkey-label]", "Laptop")
    page.click("[data-testid=passkey-setup-submit]")
    page.wait_for_selector("[data-testid=recovery-codes]")
    page.click("[data-testid=recovery-codes-continue]")
    page.wait_for_selector("[data-testid=passkey-name]")
    assert page.inner_text("[data-testid=passkey-name]") == "Laptop"
    page_checks.check(page, "security with a passkey")
    shots(page, f"security-with-a-passkey-{language}")
    [stored] = credentials(cdp, authenticator_id)
    assert stored["isResidentCredential"] and stored["rpId"] == "localhost"
    assert any(subject for subject in site.mail_subjects(member.email)), "the enrolment is mailed"

    # A relying party asks for the phishing-resistant level: password, then the passkey.
    page.context.clear_cookies()
    request = AuthorizationRequest(
        site.client_id, redirect_uri=site.rp_callback, extra={"acr_values": ACR_PHISHING_RESISTANT}
    )
    with relying_party_callback(site) as callbacks:
        user_present(cdp, authenticator_id, False)
        authorize(page, site, request)
        page.fill("#identifier", member.membership_number)
        page.fill("#password", DEMO_PASSWORD)
        page.click("[data-testid=login-submit]")
        page.wait_for_selector("[data-testid=passkey-form]")
        assert not page.is_visible("[data-testid=passkey-unsupported]")
        page_checks.check(page, "passkey challenge")
        shots(page, f"passkey-challenge-{language}")
        user_present(cdp, authenticator_id, True)
        page.click("[data-testid=passkey-submit]")
        page.wait_for_url(f"{site.rp_callback}?**")
    claims = id_token_claims(site, request, callbacks[-1])
    assert claims["acr"] == ACR_PHISHING_RESISTANT
    assert claims["amr"] == ["pwd", "pop", "user", "mfa"]
    assert credentials(cdp, authenticator_id)[0]["signCount"] >= 1

    # Passwordless: "Sign in with a passkey" next to the identifier field.
    page.context.clear_cookies()
    request = AuthorizationRequest(
        site.client_id, redirect_uri=site.rp_callback, extra={"acr_values": ACR_PHISHING_RESISTANT}
    )
    with relying_party_callback(site) as callbacks:
        user_present(cdp, authenticator_id, False)
        authorize(page, site, request)
        user_present(cdp, authenticator_id, True)
        page.click("[data-testid=passkey-sign-in]")
        page.wait_for_url(f"{site.rp_callback}?**")
    claims = id_token_claims(site, request, callbacks[-1])
    assert claims["acr"] == ACR_PHISHING_RESISTANT and claims["amr"] == ["pop", "user", "mfa"]
    assert claims["sub"] == member.subject

    # And through the identifier field's autofill (conditional mediation): Chromium's virtual
    # authenticator picks the one passkey as soon as the login page asks, without a click.
    page.context.clear_cookies()
    request = AuthorizationRequest(site.client_id, redirect_uri=site.rp_callback)
    with relying_party_callback(site) as callbacks:
        page.goto(site.idp_url + request.url())
        page.wait_for_url(f"{site.rp_callback}?**")
    assert id_token_claims(site, request, callbacks[-1])["sub"] == member.subject

    # The same idp on another origin (as a relaying proxy would show it): the browser signs
    # for that origin, and idp refuses it.
    page.context.clear_cookies()
    other_port = free_port()
    with serve_in_thread(site.idp_app, other_port):
        user_present(cdp, authenticator_id, False)
        request = AuthorizationRequest(site.client_id, redirect_uri=site.rp_callback)
        authorize(page, site, request, f"http://localhost:{other_port}")
        user_present(cdp, authenticator_id, True)
        page.click("[data-testid=passkey-sign-in]")
        page.wait_for_selector("[data-testid=passkey_failed]")
        page_checks.check(page, "passkey refused")

    # Removed on the Security page, the passkey stops working (it is still on the device).
    page.context.clear_cookies()
    page.goto(f"{site.idp_url}/account/")  # signed in by autofill
    page.wait_for_selector("[data-testid=account-summary]")
    page.goto(f"{site.idp_url}/account/security/")
    page.click("[data-testid=factor][data-kind=passkey] button[data-testid^=remove-factor-]")
    page.wait_for_selector("[data-testid=factor_removed]")
    assert page.locator("[data-testid=factor][data-kind=passkey]").count() == 0
    page.context.clear_cookies()
    user_present(cdp, authenticator_id, False)
    authorize(page, site, AuthorizationRequest(site.client_id, redirect_uri=site.rp_callback))
    user_present(cdp, authenticator_id, True)
    page.click("[data-testid=passkey-sign-in]")
    page.wait_for_selector("[data-testid=passkey_failed]")
    assert len(credentials(cdp, authenticator_id)) == 1
    page_checks.assert_clean(expected_pages=6)


def test_without_javascript_the_password_form_works_and_no_passkey_button_shows(passkey_site, make_member, open_page):
    member = make_member(locale="en")
    page = open_page("en", java_script_enabled=False)
    page.goto(f"{passkey_site.idp_url}/account/")
    page.wait_for_selector("[data-testid=login-form]")
    assert not page.is_visible("[data-testid=passkey-sign-in]")
    assert not page.is_visible("[data-testid=passkey-sign-in-form]")
    page.fill("#identifier", member.email)
    page.fill("#password", DEMO_PASSWORD)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=account-summary]")
    page.goto(f"{passkey_site.idp_url}/account/security/passkey")
    page.wait_for_selector("[data-testid=passkey-unsupported]")
    assert not page.is_visible("[data-testid=passkey-setup-form]")
