# ruff: noqa: F811 - the fixtures imported from test_password_policy
"""Issue 10 §4: repetitive and sequential strings and keyboard walks are refused (NIST SP
800-63B §5.1.1.2), so are the operator's words (passwords.blocklist_words) and what the
zxcvbn estimator finds easy to guess; the member is told why, in their language."""

from __future__ import annotations

import re

import pytest

from tests.http.test_password_policy import choose, member, rejection_reason, reset_page, stored_hash  # noqa: F401

pytestmark = pytest.mark.settings(passwords={"blocklist_words": ["Klaim Online", "idp.bpjs.example"]})


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("345678901234", "sequential"),
        ("abcdefghijklm", "sequential"),
        ("9876543210987", "sequential"),
        ("qwertyuiopas", "keyboard_walk"),
        ("zxcvbnmasdfg", "keyboard_walk"),
        ("aaaaaaaaaaaa", "repetitive"),
        ("abcabcabcabc", "repetitive"),
        ("ab12ab12ab12ab12", "repetitive"),
        ("my klaim online pass", "blocklisted"),
        ("KlaimOnline2024!", "blocklisted"),
        ("idp.bpjs.example 2024", "blocklisted"),
        ("19901231abcd", "guessable"),  # a date and a few letters: zxcvbn finds it
    ],
)
def test_weak_shapes_and_the_operators_words_are_refused_and_explained(
    app,
    client,
    member,
    reset_page,
    password,
    reason,
):
    before = stored_hash(app, member)
    refused = choose(client, reset_page, password)
    assert rejection_reason(refused) == reason
    assert stored_hash(app, member) == before


def _reason_text(response) -> str:
    found = re.search(r'data-testid="password_rejected"[^>]*>(.*?)</p>', response.text, re.S)
    assert found, response.text[:500]
    return " ".join(found.group(1).split())


def test_the_reason_is_said_in_the_members_language(app, client, member, reset_page):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    english = _reason_text(choose(client, reset_page, "qwertyuiopas"))
    assert "keyboard" in english
    indonesian = _reason_text(
        client.post(
            reset_page,
            data={
                "csrf_token": re.search(
                    r'name="csrf_token" type="hidden" value="([^"]+)"', client.get(reset_page).text
                )[1],
                "password": "qwertyuiopas",
                "confirm": "qwertyuiopas",
            },
            headers={"Accept-Language": "id"},
        )
    )
    assert indonesian != english
    assert "keyboard" in indonesian and "mudah ditebak" in indonesian


@pytest.mark.parametrize(
    "password",
    ["seven purple lanterns over Bandung", "correct horse battery staple", "a brand new passphrase for siti"],
)
def test_ordinary_passphrases_still_pass(client, member, reset_page, password):
    done = choose(client, reset_page, password)
    assert done.status_code == 200 and 'data-testid="password_reset_done"' in done.text
