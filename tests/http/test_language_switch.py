"""The language switch on every hosted page (idp/web/language_switch.py, the rule in idp/i18n.py):
plain links to the same page in each language; the choice keeps the flow, beats Accept-Language
and the member's stored language, and, in the flow it was made in, the relying party's
ui_locales. Languages are asserted on <html lang> and the switch's own markup."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import sign_in_to_account
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, login_page_uid, path_of

INDONESIAN_BROWSER = {"Accept-Language": "id-ID,id;q=0.9"}


def _lang(html: str) -> str:
    return re.search(r'<html[^>]*\blang="([^"]*)"', html).group(1)


def _switch_link(html: str, locale: str) -> str:
    match = re.search(rf'<a href="([^"]+)" lang="{locale}" hreflang="{locale}" data-testid="language-{locale}">', html)
    assert match, f"no link to {locale}"
    return unescape(match.group(1))


def _switch(client, html: str, locale: str, headers=INDONESIAN_BROWSER):
    """Follow the switch's link to ``locale``: one redirect to the same page without the parameter."""
    link = _switch_link(html, locale)
    switched = client.get(link, headers=headers)
    assert switched.status_code == 303
    assert switched.headers["Cache-Control"] == "no-store"
    target = path_of(switched.headers["Location"])
    assert "set_language" not in target
    return target, client.get(target, headers=headers)


def _start(client, registered, **extra):
    uid = login_page_uid(
        client.get(AuthorizationRequest(registered.client_id, extra=extra).url(), headers=INDONESIAN_BROWSER)
    )
    page = client.get(f"/interaction/{uid}", headers=INDONESIAN_BROWSER)
    assert page.status_code == 200
    return uid, page


def test_the_switch_names_each_language_in_itself_and_marks_the_page_s_own(client, rp):
    uid, page = _start(client, rp)
    assert _lang(page.text) == "id"
    assert re.search(r'<nav class="language-switch" aria-label="Bahasa" data-testid="language-switch">', page.text)
    assert re.search(
        r'<span lang="id" aria-current="true" data-testid="language-current">Bahasa Indonesia</span>', page.text
    )
    link = urlsplit(_switch_link(page.text, "en"))
    assert link.path == f"/interaction/{uid}" and parse_qs(link.query) == {"set_language": ["en"]}


def test_switching_keeps_the_interaction_and_beats_accept_language(client, rp):
    uid, page = _start(client, rp)
    target, switched = _switch(client, page.text, "en")
    assert target == f"/interaction/{uid}"
    assert _lang(switched.text) == "en" and 'data-testid="login-form"' in switched.text
    # And back again.
    target, back = _switch(client, switched.text, "id")
    assert target == f"/interaction/{uid}" and _lang(back.text) == "id"


def test_within_its_flow_the_choice_beats_ui_locales_and_stays_after_the_sign_in(client, make_member, make_client):
    member = make_member(locale="id")
    third_party, _ = make_client(first_party=False)
    uid, page = _start(client, third_party, ui_locales="id")
    assert _lang(page.text) == "id"
    _, switched = _switch(client, page.text, "en")
    assert _lang(switched.text) == "en"
    # A failed login (a page answering a post) is in it too, and its switch leads back to the login page.
    failed = client.post(
        f"/interaction/{uid}/login",
        headers=INDONESIAN_BROWSER,
        data={"csrf_token": csrf_token(switched.text), "identifier": member.email, "password": "not the password"},
    )
    assert failed.status_code == 401 and _lang(failed.text) == "en"
    assert urlsplit(_switch_link(failed.text, "id")).path == f"/interaction/{uid}"
    # The sign-in does not bring back the member's stored language (id), nor ui_locales.
    logged_in = client.post(
        f"/interaction/{uid}/login",
        headers=INDONESIAN_BROWSER,
        data={"csrf_token": csrf_token(failed.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    consent = client.get(path_of(logged_in.headers["Location"]), headers=INDONESIAN_BROWSER)
    assert 'data-testid="consent-form"' in consent.text
    assert _lang(consent.text) == "en"
    # After the flow, this browser's pages stay in the chosen language.
    assert _lang(client.get("/", headers=INDONESIAN_BROWSER).text) == "en"
    assert _lang(client.get("/account/", headers=INDONESIAN_BROWSER, follow_redirects=True).text) == "en"


def test_another_request_s_ui_locales_applies_to_its_own_flow(client, rp):
    _, page = _start(client, rp, ui_locales="id")
    _switch(client, page.text, "en")
    _, other = _start(client, rp, ui_locales="id")
    assert _lang(other.text) == "id"
    _, without_hint = _start(client, rp)
    assert _lang(without_hint.text) == "en"  # this browser's choice, over Accept-Language


def test_starting_again_keeps_the_language_chosen_in_the_flow(app, client, make_member, make_client):
    from tests.helpers.second_factor import member_with_email_factor

    member, _ = member_with_email_factor(app, make_member, locale="id")
    registered, _ = make_client()
    uid, page = _start(client, registered, ui_locales="id")
    _, switched = _switch(client, page.text, "en")
    challenge = Browser(client).login(f"/interaction/{uid}", member.email, DEMO_PASSWORD)
    second = client.get(path_of(challenge.headers["Location"]), headers=INDONESIAN_BROWSER, follow_redirects=True)
    assert 'data-testid="not-you"' in second.text and _lang(second.text) == "en"
    restarted = client.post(
        f"/interaction/{uid}/restart", headers=INDONESIAN_BROWSER, data={"csrf_token": csrf_token(switched.text)}
    )
    assert "ui_locales" not in parse_qs(urlsplit(restarted.headers["Location"]).query)
    again = client.get(path_of(restarted.headers["Location"]), headers=INDONESIAN_BROWSER)
    fresh = client.get(path_of(again.headers["Location"]), headers=INDONESIAN_BROWSER)
    assert 'data-testid="login-form"' in fresh.text and _lang(fresh.text) == "en"


def test_account_pages_switch_too_and_keep_the_page(client, make_member):
    member = make_member(locale="id")
    overview = sign_in_to_account(client, member)
    assert _lang(overview.text) == "id"
    profile = client.get("/account/profile")
    target, switched = _switch(client, profile.text, "en", headers={})
    assert target == "/account/profile" and _lang(switched.text) == "en"
    # Only this browser's pages: the language the member saved (for mail) is unchanged.
    assert '<option selected value="id">' in switched.text


def test_error_pages_keep_their_query_and_a_forged_path_goes_nowhere_else(client):
    refused = client.get("/authorize?client_id=no-such-client&response_type=code", headers=INDONESIAN_BROWSER)
    target, switched = _switch(client, refused.text, "en")
    assert parse_qs(urlsplit(target).query) == {"client_id": ["no-such-client"], "response_type": ["code"]}
    assert switched.status_code == 400 and _lang(switched.text) == "en"
    for forged in ("//attacker.example/x", "/\\attacker.example/x"):
        answer = client.get("/", environ_overrides={"PATH_INFO": forged}, query_string={"set_language": "en"})
        assert answer.status_code == 303
        location = answer.headers["Location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location


@pytest.mark.parametrize("value", ["fr", "", "../en"])
def test_an_unknown_language_changes_nothing(client, rp, value):
    uid, page = _start(client, rp)
    switched = client.get(f"/interaction/{uid}", query_string={"set_language": value}, headers=INDONESIAN_BROWSER)
    assert switched.status_code == 303 and path_of(switched.headers["Location"]) == f"/interaction/{uid}"
    assert _lang(client.get(f"/interaction/{uid}", headers=INDONESIAN_BROWSER).text) == "id"


def test_pages_showing_recovery_codes_have_no_switch(app, client, make_member):
    """Shown once: reloading them in another language would lose them."""
    from tests.helpers.second_factor import totp_code

    member = make_member()
    sign_in_to_account(client, member)
    setup = client.get("/account/security/totp")
    assert 'data-testid="language-switch"' in setup.text
    key = re.search(r'data-testid="totp-secret">([^<]+)<', setup.text).group(1).replace(" ", "")
    codes = client.post("/account/security/totp", data={"csrf_token": csrf_token(setup.text), "code": totp_code(key)})
    assert 'data-testid="recovery-codes"' in codes.text
    assert 'data-testid="language-switch"' not in codes.text


@pytest.mark.parametrize(
    "path", ["/", "/recovery/forgot", "/activate", "/no-such-page", "/authorize", "/interaction/no-such-interaction"]
)
def test_every_page_without_a_sign_in_has_the_switch_to_itself(client, path):
    page = client.get(path, headers=INDONESIAN_BROWSER)
    assert _lang(page.text) == "id"
    link = urlsplit(_switch_link(page.text, "en"))
    assert link.path == path
    target, switched = _switch(client, page.text, "en")
    assert urlsplit(target).path == path and _lang(switched.text) == "en"
    assert switched.status_code == page.status_code
