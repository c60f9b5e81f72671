"""`idp members`: create (never with a password on the command line) and show."""

from __future__ import annotations

import json

import pytest

from idp.db import get_session
from idp.security.passwords import verify_password
from idp.services.members import find
from tests.cli.conftest import assert_failed, assert_succeeded
from tests.helpers.oidc import AuthorizationRequest, Browser, exchange_code, query_of

PASSWORD = "  a long pass phrase with spaces  "
SITI = (
    "--membership-number",
    "123-4567-8901",
    "--nik",
    "3171234567890001",
    "--name",
    "Siti Rahayu",
    "--birth-date",
    "1990-04-17",
    "--email",
    "Siti@Example.test",
    "--email-verified",
    "--phone",
    "+6281234567890",
)


def create(idp, *options: str, input: str | None = None):
    return idp("members", "create", *options, input=input)


def stored_member(app, identifier: str):
    with app.app_context():
        member = find(get_session(), identifier)
        get_session().expunge(member)
        return member


def test_a_member_created_with_password_stdin_can_sign_in(idp, app, client, make_client):
    result = assert_succeeded(create(idp, *SITI, "--password-stdin", input=PASSWORD + "\nignored second line\n"))
    assert result.stdout.startswith("created member 12345678901")

    rp, secret = make_client(first_party=False)
    request = AuthorizationRequest(rp.client_id, scope="openid profile membership")
    location = Browser(client).sign_in(request, "siti@example.test", PASSWORD)
    tokens = exchange_code(client, query_of(location)["code"], request, secret=secret)
    assert tokens.status_code == 200, tokens.text
    userinfo = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens.json['access_token']}"}).json
    assert userinfo["name"] == "Siti Rahayu"
    assert userinfo["membership_number"] == "12345678901"


def test_the_password_is_asked_for_twice_and_hidden(idp, app):
    result = assert_succeeded(create(idp, *SITI, input=f"{PASSWORD}\n{PASSWORD}\n"))
    assert PASSWORD.strip() not in result.output
    assert "Repeat for confirmation" in result.stderr
    assert verify_password(PASSWORD, stored_member(app, "12345678901").password_hash)


def test_a_mistyped_confirmation_asks_again(idp, app):
    other = "a different long password"
    result = assert_succeeded(create(idp, *SITI, input=f"{PASSWORD}\n{other}\n{PASSWORD}\n{PASSWORD}\n"))
    assert "do not match" in result.stderr
    assert verify_password(PASSWORD, stored_member(app, "12345678901").password_hash)


def test_there_is_no_password_option():
    from idp.cli import main

    options = {opt for param in main.commands["members"].commands["create"].params for opt in param.opts}
    assert not any(opt.startswith("--password") and opt != "--password-stdin" for opt in options)


def test_create_without_password_and_show(idp):
    created = json.loads(assert_succeeded(create(idp, *SITI, "--no-password", "--locale", "en", "--json")).stdout)

    by_email = json.loads(assert_succeeded(idp("members", "show", "  SITI@example.TEST ", "--json")).stdout)
    by_number = assert_succeeded(idp("members", "show", "1234 5678 901")).stdout

    assert created == by_email
    assert by_email["password_set"] is False
    assert by_email["email"] == "siti@example.test" and by_email["email_verified"] is True
    assert by_email["locale"] == "en"
    assert by_email["birth_date"] == "1990-04-17"
    assert "password_hash" not in by_email
    assert f"subject:           {by_email['subject']}" in by_number
    assert "password_set:      no" in by_number


def test_show_never_reveals_the_password_hash(idp, app):
    assert_succeeded(create(idp, *SITI, "--password-stdin", "--json", input=PASSWORD))
    stored_hash = stored_member(app, "12345678901").password_hash
    for options in ((), ("--json",)):
        shown = assert_succeeded(idp("members", "show", "12345678901", *options)).output
        assert stored_hash not in shown and "$argon2" not in shown
    assert json.loads(idp("members", "show", "12345678901", "--json").stdout)["password_set"] is True


def test_create_is_audited(idp, app):
    from idp.services import audit

    assert_succeeded(create(idp, *SITI, "--no-password"))
    with app.app_context():
        (event,) = audit.recent(get_session())
        assert event.event == "member_created"
        assert event.member_id == find(get_session(), "12345678901").id


def test_an_unknown_member_is_one_line(idp):
    assert_failed(idp("members", "show", "nobody@example.test"), 1, "no member 'nobody@example.test'")


def test_a_duplicate_membership_number_is_refused(idp, make_member):
    make_member(membership_number="12345678901")
    result = create(idp, *SITI, "--password-stdin", input=PASSWORD)
    assert_failed(result, 1, "--membership-number is already registered")


def replaced(option: str, value: str) -> tuple[str, ...]:
    values = list(SITI)
    values[values.index(option) + 1] = value
    return tuple(values)


@pytest.mark.parametrize(
    "options, fragments",
    [
        (replaced("--nik", "31712345"), ("--nik must be exactly 16 digits",)),
        (replaced("--membership-number", "1234"), ("--membership-number must be exactly 11 digits",)),
        (replaced("--birth-date", "17-04-1990"), ("--birth-date", "is not a date YYYY-MM-DD")),
        (replaced("--birth-date", "1990-02-30"), ("--birth-date", "is not a date YYYY-MM-DD")),
        (replaced("--email", "siti@"), ("--email is not a valid email address",)),
        (replaced("--name", " "), ("--name must not be empty",)),
        (replaced("--birth-date", "2999-01-01"), ("--birth-date must not be in the future",)),
    ],
)
def test_bad_member_data_is_one_line_and_stores_nothing(idp, options, fragments):
    assert_failed(create(idp, *options, "--password-stdin", input=PASSWORD), 1, *fragments)
    assert_failed(idp("members", "show", "12345678901"), 1, "no member")


def test_common_or_identifying_passwords_are_refused(idp):
    common = create(idp, *SITI, "--password-stdin", input="password1234\n")
    assert_failed(common, 1, "password is too common")
    own_number = create(idp, *SITI, "--password-stdin", input="my number 12345678901\n")
    assert_failed(own_number, 1, "password must not contain your email, membership number or NIK")
    assert_failed(idp("members", "show", "12345678901"), 1, "no member")


@pytest.mark.parametrize("via", ["stdin", "prompt"])
def test_a_short_password_is_refused(idp, via):
    short = "eleven char"
    if via == "stdin":
        result = create(idp, *SITI, "--password-stdin", input=short + "\n")
        assert_failed(result, 1, "password must be at least 12 characters")
    else:
        result = create(idp, *SITI, input=f"{short}\n{short}\n")
        # The prompts go to stderr too (stdout stays clean for --json); the error is one line after them.
        assert result.exit_code == 1
        assert result.stderr.splitlines()[-1] == "idp: password must be at least 12 characters"
    assert short not in result.output
    assert_failed(idp("members", "show", "12345678901"), 1, "no member")


def test_an_empty_stdin_is_refused(idp):
    assert_failed(create(idp, *SITI, "--password-stdin", input=""), 1, "password was expected on standard input")


def test_password_stdin_and_no_password_exclude_each_other(idp):
    result = create(idp, *SITI, "--password-stdin", "--no-password", input=PASSWORD)
    assert result.exit_code == 64  # a usage mistake
    assert "exclude each other" in result.stderr
