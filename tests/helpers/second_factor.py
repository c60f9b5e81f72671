"""A member's browser and authenticator app for the second-factor tests.

Codes are computed the way an app does it: pyotp from the key shown on the enrolment page
(the manual-entry key), at the app's clock, which here is ``idp.clock`` (tests move it).
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp

from idp.clock import clock
from idp.runtime import runtime
from tests.conftest import DEMO_PASSWORD
from tests.helpers.account import sign_in_to_account
from tests.helpers.oidc import (
    AuthorizationRequest,
    Browser,
    code_from,
    csrf_token,
    exchange_code,
    path_of,
    set_cookies,
    verify_token,
)

SECRET = re.compile(r'data-testid="totp-secret">([^<]+)<')
RECOVERY_CODE = re.compile(r'data-testid="recovery-code">([^<]+)<')
EMAILED_CODE = re.compile(r"\b(\d{6})\b")
# The "remember this browser" cookie on an http issuer (__Host- on https).
REMEMBER_COOKIE = "idp_remember"


def totp_code(seed: str, steps: int = 0) -> str:
    """The code an app shows now (``steps`` periods later or, negative, earlier)."""
    return pyotp.TOTP(seed).at(clock.now() + timedelta(seconds=30 * steps))


def next_step() -> None:
    """Wait (move the clock) to just after the start of the next 30-second step, so a fresh
    code is not a replay, and a code computed now stays in its step for the ~29 seconds a
    test on a busy machine may take to submit it."""
    into_step = clock.now().timestamp() % 30
    clock.advance(30 - into_step + 1)


def secret_on(page_text: str) -> str:
    match = SECRET.search(page_text)
    assert match, page_text[:800]
    return match.group(1).replace(" ", "")


def recovery_codes_on(page_text: str) -> list[str]:
    return RECOVERY_CODE.findall(page_text)


def follow(client, response, max_hops: int = 10):
    """Follow redirects inside idp; stop at a page or at a redirect leaving idp."""
    for _ in range(max_hops):
        if response.status_code not in (302, 303) or not response.headers["Location"].startswith("/"):
            return response
        response = client.get(path_of(response.headers["Location"]))
    raise AssertionError("too many redirects inside idp")


def enrol_totp(client, label: str | None = None) -> tuple[str, list[str]]:
    """Add an authenticator app on the Security page (the session must pass the fresh check):
    returns the key the app stores and the recovery codes shown (empty when none were made)."""
    page = client.get("/account/security/totp")
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    seed = secret_on(page.text)
    done = client.post(
        "/account/security/totp",
        data={"csrf_token": csrf_token(page.text), "code": totp_code(seed), "label": label or ""},
    )
    assert done.status_code in (200, 303), done.text[:500]
    return seed, recovery_codes_on(done.text) if done.status_code == 200 else []


def enrol_email(client) -> list[str]:
    page = client.get("/account/security/")
    done = client.post("/account/security/email", data={"csrf_token": csrf_token(page.text)})
    assert done.status_code in (200, 303), done.text[:500]
    return recovery_codes_on(done.text) if done.status_code == 200 else []


def member_with_totp(app, make_member, **fields):
    """A member with an authenticator app, set up in a browser of its own. Returns (member,
    key, recovery codes); the clock is moved past the enrolment code's step."""
    member = make_member(**fields)
    browser = app.test_client()
    sign_in_to_account(browser, member)
    seed, codes = enrol_totp(browser)
    next_step()
    return member, seed, codes


def give_totp(app, member) -> str:
    """An authenticator app for the member, set up through the service (for tests whose
    settings keep the member from reaching the Security page first). Returns the key."""
    from idp.db import get_session
    from idp.models import Member
    from idp.services import second_factor
    from idp.services.audit import RequestOrigin

    with app.app_context():
        db = get_session()
        box = runtime(app).secrets.totp_seeds
        encrypted = second_factor.new_totp_seed(box)
        seed = second_factor.seed_of(encrypted, box)
        stored = db.get(Member, member.id)
        factor = second_factor.confirm_totp(db, stored, encrypted, totp_code(seed), box, None, RequestOrigin())
        assert factor is not None
    next_step()
    return seed


def member_with_email_factor(app, make_member, **fields):
    member = make_member(**fields)
    browser = app.test_client()
    sign_in_to_account(browser, member)
    codes = enrol_email(browser)
    return member, codes


def interaction_of(location: str) -> str:
    parts = urlsplit(location).path.split("/")
    assert parts[1] == "interaction", location
    return parts[2]


def password_step(client, request: AuthorizationRequest, member, password: str = DEMO_PASSWORD):
    """Start the request and pass the password; returns the response of the login POST."""
    started = client.get(request.url())
    assert started.status_code == 303, (started.status_code, started.headers.get("Location"))
    return Browser(client).login(started.headers["Location"], member.email, password)


def to_challenge(client, request: AuthorizationRequest, member, password: str = DEMO_PASSWORD) -> str:
    """Password passed, second factor due: returns the interaction uid."""
    logged_in = password_step(client, request, member, password)
    assert logged_in.status_code == 303, logged_in.status_code
    location = logged_in.headers["Location"]
    assert location.endswith("/second-factor"), location
    return interaction_of(location)


def challenge_page(client, request: AuthorizationRequest, member, password: str = DEMO_PASSWORD) -> str:
    """Pass the password and return the second-factor page the member is then shown."""
    uid = to_challenge(client, request, member, password)
    return client.get(f"/interaction/{uid}/second-factor").text


def post_code(client, uid: str, page_path: str, post_path: str, code: str, remember: bool = False):
    page = client.get(f"/interaction/{uid}/{page_path}")
    assert page.status_code in (200, 423), (page.status_code, page.headers.get("Location"))
    data = {"csrf_token": csrf_token(page.text), "code": code}
    if remember:
        data["remember"] = "y"
    return client.post(f"/interaction/{uid}/{post_path}", data=data)


def submit_totp(client, uid: str, code: str, remember: bool = False):
    return post_code(client, uid, "second-factor", "second-factor", code, remember)


def submit_recovery_code(client, uid: str, code: str):
    return post_code(client, uid, "recovery", "recovery", code)


def submit_email_code(client, uid: str, code: str, remember: bool = False):
    return post_code(client, uid, "email-code", "email-code", code, remember)


def send_email_code(client, uid: str):
    page = client.get(f"/interaction/{uid}/email-code")
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    return client.post(f"/interaction/{uid}/email-code/send", data={"csrf_token": csrf_token(page.text)})


def code_in_mail(text: str) -> str:
    match = EMAILED_CODE.search(text)
    assert match, text
    return match.group(1)


def to_client(client, response) -> str:
    """Follow a passed step to the redirect back to the relying party."""
    return Browser(client).follow_to_client(response)


def id_token_claims(client, location: str, request: AuthorizationRequest, secret: str | None = None) -> dict:
    tokens = exchange_code(client, code_from(location, request), request, secret=secret)
    assert tokens.status_code == 200, tokens.text
    return verify_token(tokens.json["id_token"], client.get("/jwks").json).claims


def remembered_browser(app, rp, member, seed, days: int = 30):
    """A browser that passed the app code with "remember" ticked, then signed out (the app
    must have ``security.remember_browser_days = days``)."""
    browser = app.test_client()
    uid = to_challenge(browser, AuthorizationRequest(rp.client_id), member)
    page = browser.get(f"/interaction/{uid}/second-factor")
    assert 'data-testid="remember-browser"' in page.text
    assert str(days) in page.text
    passed = submit_totp(browser, uid, totp_code(seed), remember=True)
    assert passed.status_code == 303
    cookie = set_cookies(passed)[REMEMBER_COOKIE]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == days * 86400
    # Nothing personal inside: only the security epoch and the expiry (signed).
    payload = json.loads(base64.urlsafe_b64decode(cookie["value"].split(".")[0] + "=="))
    assert set(payload) == {"e", "x"}
    to_client(browser, passed)
    account = browser.get("/account/")
    browser.post("/account/logout", data={"csrf_token": csrf_token(account.text)})
    assert browser.get_cookie(REMEMBER_COOKIE) is not None
    next_step()
    return browser
