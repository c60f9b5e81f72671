"""The login step of an authorization request: one answer for every failure (no account
enumeration), forgiving identifier input, CSRF, and the interaction bound to its browser."""

from __future__ import annotations

import html
import re
import time

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    assert_error_redirect,
    code_from,
    csrf_token,
    login_page_uid,
    set_cookies,
)


def _open_login(client, rp, **extra):
    request = AuthorizationRequest(rp.client_id, extra=extra)
    uid = login_page_uid(client.get(request.url()))
    page = client.get(f"/interaction/{uid}")
    assert page.status_code == 200
    assert 'data-testid="login-form"' in page.text
    return request, uid, page


def _post_login(client, uid, page, identifier, password):
    return client.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_token(page.text), "identifier": identifier, "password": password},
    )


def _is_signed_in(client, rp) -> bool:
    probe = AuthorizationRequest(rp.client_id, extra={"prompt": "none"})
    response = client.get(probe.url())
    if response.status_code == 302 and "code=" in response.headers["Location"]:
        return True
    assert_error_redirect(response, probe, "login_required")
    return False


def _identifier_value(page_html: str) -> str | None:
    match = re.search(r'<input[^>]*\bid="identifier"[^>]*>', page_html)
    assert match, "no identifier field"
    value = re.search(r'\bvalue="([^"]*)"', match.group(0))
    return html.unescape(value.group(1)) if value else None


# --- Enumeration safety --------------------------------------------------------------------


def test_every_failure_looks_the_same(app, make_member, rp):
    member = make_member(email="real@example.test")
    make_member(email="nopassword@example.test", password=None)
    attempts = {
        "wrong password": (member.email, "not the password at all"),
        "unknown email": ("nobody@example.test", "not the password at all"),
        "unknown membership number": ("99999999999", "not the password at all"),
        "malformed identifier": ("hello world!", "not the password at all"),
        "short number": ("12-34", "not the password at all"),
        "no password set": ("nopassword@example.test", "not the password at all"),
        "no password set, demo password": ("nopassword@example.test", DEMO_PASSWORD),
        "over-long password": (member.email, "p" * 10_000),
    }
    answers = {}
    for name, (identifier, password) in attempts.items():
        browser = app.test_client()
        _, uid, page = _open_login(browser, rp)
        response = _post_login(browser, uid, page, identifier, password)
        # Normalise what legitimately differs between two renderings (tokens, uid).
        body = re.sub(r'value="[^"]*"', 'value=""', response.text).replace(uid, "UID")
        answers[name] = (
            response.status_code,
            'data-testid="login_failed"' in response.text,
            sorted(set_cookies(response)),
            browser.get_cookie("idp_session") is not None,
            body,
        )
        assert not _is_signed_in(browser, rp), name
    first = next(iter(answers.values()))
    assert first[0] == 401 and first[1] is True
    for name, answer in answers.items():
        assert answer[:4] == first[:4], name
        assert answer[4] == first[4], f"{name}: the page differs from a wrong password's"


def test_failed_login_keeps_the_identifier_but_not_the_password(client, make_member, rp):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    response = _post_login(client, uid, page, member.email, "secret-guess-123")
    assert response.status_code == 401
    assert "secret-guess-123" not in response.text
    assert _identifier_value(response.text) == member.email
    assert response.headers["Cache-Control"] == "no-store"


def test_member_without_password_cannot_sign_in(client, make_member, rp):
    member = make_member(password=None)
    _, uid, page = _open_login(client, rp)
    response = _post_login(client, uid, page, member.email, "")
    assert response.status_code in (400, 401)
    response = _post_login(client, uid, page, member.email, DEMO_PASSWORD)
    assert response.status_code == 401
    assert 'data-testid="login_failed"' in response.text
    assert not _is_signed_in(client, rp)


def test_overlong_password_gets_the_same_answer_quickly(client, make_member, rp):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    wrong = _post_login(client, uid, page, member.email, "not the password at all")
    started = time.perf_counter()
    response = _post_login(client, uid, page, member.email, "p" * 10_000)
    elapsed = time.perf_counter() - started
    assert response.status_code == wrong.status_code == 401
    assert 'data-testid="login_failed"' in response.text
    assert elapsed < 1.0
    assert not _is_signed_in(client, rp)


def test_overlong_password_for_unknown_account_gets_the_same_answer(client, rp):
    _, uid, page = _open_login(client, rp)
    response = _post_login(client, uid, page, "nobody@example.test", "p" * 10_000)
    assert response.status_code == 401
    assert 'data-testid="login_failed"' in response.text


def test_request_body_over_the_limit_is_refused(client, make_member, rp):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    response = _post_login(client, uid, page, member.email, "p" * (1024 * 1024))
    assert response.status_code == 413
    assert "Traceback" not in response.text
    assert not _is_signed_in(client, rp)


# --- Identifier input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "{n}",
        "{n3}-{n4}-{n4b}",
        "{n3} {n4} {n4b}",
        "{n3}-{n4} {n4b}",
        "  {n}  ",
    ],
)
def test_sign_in_by_membership_number_with_separators(client, make_member, rp, typed):
    member = make_member()
    number = member.membership_number
    identifier = typed.format(n=number, n3=number[:3], n4=number[3:7], n4b=number[7:])
    request, uid, page = _open_login(client, rp)
    response = _post_login(client, uid, page, identifier, DEMO_PASSWORD)
    assert response.status_code == 303, (identifier, response.status_code)
    code_from(Browser(client).follow_to_client(response), request)


@pytest.mark.parametrize("typed", ["Member@Example.TEST", "  member@example.test  ", "MEMBER@EXAMPLE.TEST\t"])
def test_sign_in_by_email_ignores_case_and_surrounding_space(client, make_member, rp, typed):
    make_member(email="member@example.test")
    request, uid, page = _open_login(client, rp)
    response = _post_login(client, uid, page, typed, DEMO_PASSWORD)
    assert response.status_code == 303, (typed, response.status_code)
    code_from(Browser(client).follow_to_client(response), request)


def test_password_is_not_trimmed_or_case_folded(client, make_member, rp):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    for variant in (DEMO_PASSWORD.upper(), f" {DEMO_PASSWORD}", f"{DEMO_PASSWORD} "):
        assert _post_login(client, uid, page, member.email, variant).status_code == 401, repr(variant)


# --- login_hint ----------------------------------------------------------------------------


def test_login_hint_prefills_the_identifier(client, rp):
    _, _, page = _open_login(client, rp, login_hint="siti@example.test")
    assert _identifier_value(page.text) == "siti@example.test"


def test_login_hint_is_html_escaped(client, rp):
    hint = '"><script>alert(1)</script><input x="'
    _, _, page = _open_login(client, rp, login_hint=hint)
    assert "<script>alert(1)</script>" not in page.text
    assert _identifier_value(page.text) == hint
    field = re.search(r'<input[^>]*\bid="identifier"[^>]*>', page.text).group(0)
    assert "&#34;&gt;&lt;script&gt;" in field or "&quot;&gt;&lt;script&gt;" in field


def test_without_login_hint_the_identifier_is_empty(client, rp):
    _, _, page = _open_login(client, rp)
    assert not _identifier_value(page.text)


def test_overlong_login_hint_is_cut(client, rp):
    _, _, page = _open_login(client, rp, login_hint="a" * 1000)
    assert _identifier_value(page.text) == "a" * 254


# --- CSRF ----------------------------------------------------------------------------------


def test_login_post_without_csrf_token_is_refused(client, make_member, rp):
    member = make_member()
    _, uid, _ = _open_login(client, rp)
    response = client.post(f"/interaction/{uid}/login", data={"identifier": member.email, "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert not set_cookies(response)
    assert not _is_signed_in(client, rp)


def test_login_post_with_a_wrong_csrf_token_is_refused(client, make_member, rp):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    token = csrf_token(page.text)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": forged, "identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 400
    assert not _is_signed_in(client, rp)


def test_login_post_with_another_browsers_csrf_token_is_refused(app, client, make_member, rp):
    member = make_member()
    other = app.test_client()
    _, _, other_page = _open_login(other, rp)
    _, uid, _ = _open_login(client, rp)
    response = client.post(
        f"/interaction/{uid}/login",
        data={"csrf_token": csrf_token(other_page.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 400
    assert not _is_signed_in(client, rp)


def test_login_post_from_another_site_is_refused(client, make_member, rp):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    response = client.post(
        f"/interaction/{uid}/login",
        headers={"Origin": "https://attacker.example"},
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 400
    assert not _is_signed_in(client, rp)


@pytest.mark.settings(server={"issuer": "https://idp.test"})
def test_login_post_without_csrf_token_is_refused_over_https(client, make_member, rp):
    member = make_member()
    request = AuthorizationRequest(rp.client_id)
    uid = login_page_uid(client.get(request.url(), base_url="https://idp.test"))
    response = client.post(
        f"/interaction/{uid}/login",
        base_url="https://idp.test",
        data={"identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 400
    assert not set_cookies(response)


# --- The interaction: bound to the browser, expiring, in order -----------------------------


def test_interaction_from_another_browser_is_expired(app, client, rp):
    _, uid, _ = _open_login(client, rp)
    other = app.test_client()
    response = other.get(f"/interaction/{uid}")
    assert response.status_code == 400
    assert 'data-testid="interaction_expired"' in response.text
    assert 'data-testid="login-form"' not in response.text


def test_login_post_from_another_browser_is_refused(app, client, make_member, rp):
    member = make_member()
    _, uid, _ = _open_login(client, rp)
    other = app.test_client()
    _, _, other_page = _open_login(other, rp)
    response = _post_login(other, uid, other_page, member.email, DEMO_PASSWORD)
    assert response.status_code == 400
    assert 'data-testid="interaction_expired"' in response.text
    assert not _is_signed_in(other, rp)


def test_interaction_expires(client, make_member, rp, moving_clock):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    moving_clock.advance(901)
    response = client.get(f"/interaction/{uid}")
    assert response.status_code == 400
    assert 'data-testid="interaction_expired"' in response.text
    posted = _post_login(client, uid, page, member.email, DEMO_PASSWORD)
    assert posted.status_code == 400
    assert 'data-testid="interaction_expired"' in posted.text
    assert not _is_signed_in(client, rp)


def test_unknown_interaction_is_expired(client):
    response = client.get("/interaction/" + "x" * 32)
    assert response.status_code == 400
    assert 'data-testid="interaction_expired"' in response.text


def test_resume_before_login_goes_back_to_the_login_step(client, rp):
    _, uid, _ = _open_login(client, rp)
    response = client.get(f"/authorize/resume/{uid}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/interaction/{uid}"
    assert "code=" not in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert 'data-testid="login-form"' in page.text


def test_resume_from_another_browser_is_expired(app, client, make_member, rp):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    assert _post_login(client, uid, page, member.email, DEMO_PASSWORD).status_code == 303
    other = app.test_client()
    response = other.get(f"/authorize/resume/{uid}")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_login_twice_on_a_finished_interaction_does_not_issue_two_codes(client, make_member, rp):
    member = make_member()
    request, uid, page = _open_login(client, rp)
    response = _post_login(client, uid, page, member.email, DEMO_PASSWORD)
    code_from(Browser(client).follow_to_client(response), request)
    again = _post_login(client, uid, page, member.email, DEMO_PASSWORD)
    # Refused: the sign-in rotated the session, so the old page's CSRF token is void.
    assert again.status_code == 400
    assert "Location" not in again.headers
    revisited = client.get(f"/interaction/{uid}")
    assert revisited.status_code == 400
    assert 'data-testid="interaction_expired"' in revisited.text
    assert client.get(f"/authorize/resume/{uid}").status_code == 400


def test_successful_login_page_has_no_store(client, rp):
    _, uid, page = _open_login(client, rp)
    assert page.headers["Cache-Control"] == "no-store"


def test_identifier_with_nul_is_an_ordinary_failure(client, make_member, rp):
    member = make_member()
    _, uid, page = _open_login(client, rp)
    for identifier in (member.email.replace("@", "\x00@"), "\x00", member.membership_number + "\x00"):
        response = _post_login(client, uid, page, identifier, DEMO_PASSWORD)
        assert response.status_code == 401, repr(identifier)
        assert 'data-testid="login_failed"' in response.text


def test_interaction_uid_with_nul_is_refused(client):
    for path in ("/interaction/%00abc", "/authorize/resume/%00abc"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert "Location" not in response.headers


def test_login_post_naming_our_own_page_is_accepted(client, make_member, rp):
    """A browser that does send Origin/Referer for our own page (the issuer's origin) is fine."""
    member = make_member()
    _, uid, page = _open_login(client, rp)
    response = client.post(
        f"/interaction/{uid}/login",
        headers={"Origin": "http://idp.test", "Referer": f"http://idp.test/interaction/{uid}"},
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 303
    assert _is_signed_in(client, rp)


def test_login_post_with_origin_null_is_accepted(client, make_member, rp):
    """Under Referrer-Policy: no-referrer browsers send `Origin: null` on form posts."""
    member = make_member()
    _, uid, page = _open_login(client, rp)
    response = client.post(
        f"/interaction/{uid}/login",
        headers={"Origin": "null"},
        data={"csrf_token": csrf_token(page.text), "identifier": member.email, "password": DEMO_PASSWORD},
    )
    assert response.status_code == 303
