"""Acting as a member on idp's own pages: signing in to the account area, posting its forms,
and finding links in the mail idp sent."""

from __future__ import annotations

import re

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import Browser, csrf_token, path_of

ACTIVATION_LINK = re.compile(r"(?P<origin>https?://[^/\s\"'<>]+)/activate/verify/(?P<token>[A-Za-z0-9_\-]+)")
EMAIL_CHANGE_LINK = re.compile(
    r"(?P<origin>https?://[^/\s\"'<>]+)/account/profile/email/verify/(?P<token>[A-Za-z0-9_\-]+)"
)


def sign_in_to_account(client, who, password: str = DEMO_PASSWORD):
    """Open /account/, sign in through the hosted login (no second factor expected), and
    return the account page. ``who``: a member (signs in with its email) or an identifier."""
    identifier = who if isinstance(who, str) else who.email
    started = client.get("/account/")
    assert started.status_code == 303, started.status_code
    response = Browser(client).login(started.headers["Location"], identifier, password)
    assert response.status_code == 303, (response.status_code, response.text[:500])
    for _ in range(6):
        if response.status_code not in (302, 303):
            break
        response = client.get(path_of(response.headers["Location"]))
    assert response.status_code == 200, response.status_code
    assert 'data-testid="account-summary"' in response.text, response.text[:500]
    return response


def submit(client, page_path: str, action: str, data: dict, **options):
    """Load ``page_path`` for its CSRF token (it belongs to the session), then post ``data``
    to ``action``."""
    page = client.get(page_path, **options)
    assert page.status_code == 200, (page_path, page.status_code)
    return client.post(action, data={"csrf_token": csrf_token(page.text), **data}, **options)


def links_in(mails, pattern: re.Pattern, to: str | None = None) -> list[str]:
    """Every link matching ``pattern`` in the mails (to ``to`` only, if given), oldest first;
    each found in the plain-text part and the HTML part alike."""
    found = []
    for mail in mails:
        if to is not None and mail.to != to:
            continue
        match = pattern.search(mail.text)
        if match is None:
            continue
        assert match.group(0) in mail.html, mail.html
        found.append(match.group(0))
    return found


def data_testids(html: str) -> list[str]:
    return re.findall(r'data-testid="([^"]+)"', html)
