"""The password policy (NIST SP 800-63B §5.1.1.2), as a member meets it on the reset page, the
only page that sets a password today: length only, any Unicode (compared after NFKC), no
common passwords, nothing containing the member's own identifiers."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from idp.db import get_session
from idp.models import Member
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token

COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[2] / "idp" / "data" / "common-passwords.txt.gz"
RESET_LINK = re.compile(r"/recovery/reset/[A-Za-z0-9_\-]+")


@pytest.fixture
def member(make_member):
    return make_member(locale="en", email="siti.rahmawati@example.test")


@pytest.fixture
def reset_page(client, member, outbox):
    """The path of a fresh reset link for ``member`` (from the development outbox)."""
    page = client.get("/recovery/forgot")
    answer = client.post("/recovery/forgot", data={"csrf_token": csrf_token(page.text), "identifier": member.email})
    assert answer.status_code == 200
    (mail,) = outbox()
    found = RESET_LINK.search(mail.text)
    assert found, mail.text
    return found.group(0)


def choose(client, reset_page: str, password: str):
    form = client.get(reset_page)
    assert form.status_code == 200, form.status_code
    return client.post(
        reset_page, data={"csrf_token": csrf_token(form.text), "password": password, "confirm": password}
    )


def rejection_reason(response) -> str:
    assert response.status_code == 400, (response.status_code, response.text[:300])
    found = re.search(r'data-testid="password_rejected" data-reason="([^"]+)"', response.text)
    assert found, response.text
    assert 'data-testid="reset-form"' in response.text  # the member can try again at once
    return found.group(1)


def stored_hash(app, member) -> str | None:
    with app.app_context():
        return get_session().get(Member, member.id).password_hash


def signs_in(app, rp, identifier: str, password: str) -> bool:
    browser = Browser(app.test_client())
    started = browser.start(AuthorizationRequest(rp.client_id))
    response = browser.login(started.headers["Location"], identifier, password)
    assert response.status_code in (303, 401), response.status_code
    return response.status_code == 303


def test_the_common_passwords_used_here_are_in_the_list():
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as handle:
        listed = {line.strip().lower() for line in handle}
    assert {"password1234", "qwertyuiop123"} <= listed
    assert "seven purple lanterns over bandung" not in listed


def test_guidance_is_shown_before_typing(client, reset_page):
    form = client.get(reset_page)
    guidance = re.search(r'<p[^>]*data-testid="password-guidance"[^>]*>(.*?)</p>', form.text, re.S)
    assert guidance, form.text
    assert "12" in guidance.group(1)
    assert 'data-testid="password_rejected"' not in form.text
    assert 'autocomplete="new-password"' in form.text


@pytest.mark.settings(passwords={"min_length": 15})
def test_guidance_follows_the_configured_minimum(client, reset_page):
    form = client.get(reset_page)
    guidance = re.search(r'data-testid="password-guidance"[^>]*>(.*?)</p>', form.text, re.S)
    assert guidance and "15" in guidance.group(1) and "12" not in guidance.group(1)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("a" * 5 + " " + "b" * 5, "too_short"),  # 11 characters
        ("short", "too_short"),
        ("x" * 129, "too_long"),
        ("password1234", "common"),
        ("qwertyuiop123", "common"),
        ("QwertyUiop123", "common"),  # compared case-insensitively
    ],
)
def test_refused_passwords_say_why(app, client, member, reset_page, password, reason):
    before = stored_hash(app, member)
    refused = choose(client, reset_page, password)
    assert rejection_reason(refused) == reason
    assert re.findall(r'type="password" value="([^"]*)"', refused.text) == ["", ""]  # never echoed back
    assert stored_hash(app, member) == before
    # The link is still good for a better password.
    assert client.get(reset_page).status_code == 200


def test_twelve_characters_are_enough_by_default(app, client, member, reset_page, rp):
    done = choose(client, reset_page, "lantern kite")  # exactly 12
    assert done.status_code == 200 and 'data-testid="password_reset_done"' in done.text
    assert signs_in(app, rp, member.email, "lantern kite")


def test_a_128_character_password_is_accepted(app, client, member, reset_page, rp):
    longest = ("river stone " * 11 + "lantern kite!")[:128]
    assert len(longest) == 128
    done = choose(client, reset_page, longest)
    assert done.status_code == 200 and 'data-testid="password_reset_done"' in done.text
    assert signs_in(app, rp, member.email, longest)


@pytest.mark.settings(passwords={"min_length": 15})
def test_the_configured_minimum_applies(app, client, member, reset_page, rp):
    refused = choose(client, reset_page, "lantern kite 1")  # 14 characters
    assert rejection_reason(refused) == "too_short"
    assert "15" in refused.text
    done = choose(client, reset_page, "lantern kite 12")  # 15 characters
    assert done.status_code == 200 and 'data-testid="password_reset_done"' in done.text


def test_a_very_large_password_is_refused_without_harm(app, client, member, reset_page):
    """Far over the maximum but under MAX_CONTENT_LENGTH (64 KiB): refused as too long, not an error."""
    before = stored_hash(app, member)
    refused = choose(client, reset_page, "y" * 30_000)
    assert rejection_reason(refused) == "too_long"
    assert stored_hash(app, member) == before


@pytest.mark.parametrize(
    "make_password",
    [
        lambda member: f"my address is {member.email}",
        lambda member: f"my mail {member.email.upper()} ok",  # case does not hide it
        lambda member: "call me siti.rahmawati please",  # the address's local part
        lambda member: f"number {member.membership_number} here",
        lambda member: f"NIK {member.nik} is mine",
    ],
    ids=["email", "email-uppercase", "email-local-part", "membership-number", "nik"],
)
def test_passwords_containing_the_members_identifiers_are_refused(app, client, member, reset_page, make_password):
    refused = choose(client, reset_page, make_password(member))
    assert rejection_reason(refused) == "contains_identifier"


def test_a_unicode_passphrase_is_accepted_and_works_for_sign_in(app, client, member, reset_page, rp):
    passphrase = "kata sandi rahasia 🌴 ñandú"
    done = choose(client, reset_page, passphrase)
    assert done.status_code == 200 and 'data-testid="password_reset_done"' in done.text
    assert signs_in(app, rp, member.email, passphrase)
    assert not signs_in(app, rp, member.email, DEMO_PASSWORD)
    # NFKC keeps "ñ" (precomposed) and "n" + combining tilde the same password.
    assert signs_in(app, rp, member.email, "kata sandi rahasia 🌴 n\u0303andu\u0301")


def test_passwords_are_compared_after_nfkc(app, client, member, reset_page, rp):
    with_ligature = "\ufb01ve golden \ufb01elds of rice"  # "ﬁ" (U+FB01) twice
    done = choose(client, reset_page, with_ligature)
    assert done.status_code == 200 and 'data-testid="password_reset_done"' in done.text
    # Typed on a keyboard without the ligature:
    assert signs_in(app, rp, member.email, "five golden fields of rice")
    assert signs_in(app, rp, member.email, with_ligature)
