"""`idp clients`: create, list, show and delete, and the mistakes an operator can make."""

from __future__ import annotations

import json
import re

import pytest

from idp.db import get_session
from idp.services.clients import get_client
from tests.cli.conftest import assert_failed, assert_succeeded

REDIRECT_URI = "https://rp.example.test/callback"


def create(idp, *options: str, env=None):
    return idp("clients", "create", "--name", "Klaim Online", "--redirect-uri", REDIRECT_URI, *options, env=env)


def stored_client(app, client_id: str):
    with app.app_context():
        return get_client(get_session(), client_id)


def test_create_confidential_prints_the_secret_once_and_it_authenticates(idp, app):
    result = assert_succeeded(create(idp, "--scope", "openid", "--scope", "benefits:read"))

    client_id = re.search(r"^client_id:\s+(\S+)$", result.stdout, re.M).group(1)
    secret = re.search(r"^client_secret:\s+(\S+)$", result.stdout, re.M).group(1)
    assert "will not be shown again" in result.stdout
    registered = stored_client(app, client_id)
    assert registered.check_client_secret(secret)
    assert registered.token_endpoint_auth_method == "client_secret_basic"
    assert registered.allowed_scopes == ["openid", "benefits:read"]
    assert registered.first_party is False
    for command in (("clients", "show", client_id), ("clients", "show", client_id, "--json"), ("clients", "list")):
        assert secret not in assert_succeeded(idp(*command)).output


def test_create_public_client_as_json(idp):
    result = assert_succeeded(
        create(
            idp,
            "--public",
            "--scopes",
            "openid profile",
            "--scope",
            "email",
            "--redirect-uri",
            "com.example.app:/callback",
            "--first-party",
            "--id-token-alg",
            "ES256",
            "--client-id",
            "klaim-app",
            "--json",
        )
    )
    described = json.loads(result.stdout)
    assert described["client_id"] == "klaim-app"
    assert described["type"] == "public"
    assert described["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in described
    assert described["scopes"] == ["openid", "profile", "email"]
    assert described["redirect_uris"] == [REDIRECT_URI, "com.example.app:/callback"]
    assert described["first_party"] is True
    assert described["id_token_signed_response_alg"] == "ES256"


def test_create_as_json_includes_the_secret_and_warns_on_stderr(idp, app):
    result = assert_succeeded(create(idp, "--auth-method", "client_secret_post", "--json"))
    described = json.loads(result.stdout)
    assert stored_client(app, described["client_id"]).check_client_secret(described["client_secret"])
    assert described["token_endpoint_auth_method"] == "client_secret_post"
    assert "will not be shown again" in result.stderr


def test_the_id_token_algorithm_defaults_to_the_configured_one(idp):
    result = create(idp, "--json", env={"IDP_TOKENS__DEFAULT_ID_TOKEN_SIGNING_ALG": "ES256"})
    assert json.loads(assert_succeeded(result).stdout)["id_token_signed_response_alg"] == "ES256"


def test_list_and_show(idp, make_client):
    assert assert_succeeded(idp("clients", "list")).stdout == "no clients registered\n"
    assert json.loads(assert_succeeded(idp("clients", "list", "--json")).stdout) == []
    first, _ = make_client(name="Saldo JHT", client_id="saldo-jht")
    second, _ = make_client(name="Klaim App", client_id="klaim-app", public=True)

    table = assert_succeeded(idp("clients", "list")).stdout.splitlines()
    listed = json.loads(assert_succeeded(idp("clients", "list", "--json")).stdout)
    shown = assert_succeeded(idp("clients", "show", "saldo-jht")).stdout
    shown_json = json.loads(assert_succeeded(idp("clients", "show", "klaim-app", "--json")).stdout)

    assert table[0].split()[:2] == ["CLIENT_ID", "TYPE"]
    assert [line.split()[:2] for line in table[1:]] == [["saldo-jht", "confidential"], ["klaim-app", "public"]]
    assert [client["client_id"] for client in listed] == ["saldo-jht", "klaim-app"]
    assert re.search(r"^redirect_uris:\s+https://rp.example.test/callback$", shown, re.M)
    assert re.search(r"^scopes:\s+openid profile email phone membership benefits:read$", shown, re.M)
    assert re.search(r"^first_party:\s+yes$", shown, re.M)
    assert shown_json["type"] == "public" and shown_json["name"] == second.name


def test_delete_asks_first(idp, app, make_client):
    make_client(client_id="saldo-jht", name="Saldo JHT")

    declined = idp("clients", "delete", "saldo-jht", input="n\n")
    assert declined.exit_code == 1
    assert "Delete client saldo-jht (Saldo JHT)?" in declined.stderr
    assert stored_client(app, "saldo-jht")

    accepted = assert_succeeded(idp("clients", "delete", "saldo-jht", input="y\n"))
    assert accepted.stdout == "deleted client saldo-jht\n"
    assert_failed(idp("clients", "show", "saldo-jht"), 1, "no client 'saldo-jht'")


def test_delete_takes_consents_codes_and_tokens_with_it(idp, app, client, make_client, make_member):
    from tests.conftest import DEMO_PASSWORD
    from tests.helpers.oidc import (
        AuthorizationRequest,
        Browser,
        exchange_code,
        query_of,
    )

    member = make_member()
    registered, secret = make_client(client_id="klaim-online", first_party=False)
    request = AuthorizationRequest(registered.client_id)
    location = Browser(client).sign_in(request, member.email, DEMO_PASSWORD)
    access_token = exchange_code(client, query_of(location)["code"], request, secret=secret).json["access_token"]

    assert_succeeded(idp("clients", "delete", "klaim-online", "--yes"))
    make_client(client_id="klaim-online", first_party=False)

    bearer = {"Authorization": f"Bearer {access_token}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401
    again = Browser(client).start(AuthorizationRequest("klaim-online"))
    # The new client under the old id inherits no consent: the member is asked again.
    assert 'data-testid="consent-form"' in client.get(again.headers["Location"]).text


def test_delete_with_yes_does_not_ask(idp, make_client):
    make_client(client_id="saldo-jht")
    result = assert_succeeded(idp("clients", "delete", "saldo-jht", "--yes"))
    assert "Delete client" not in result.output
    assert json.loads(idp("clients", "list", "--json").stdout) == []


def test_create_and_delete_are_audited(idp, app):
    from idp.services import audit

    client_id = json.loads(assert_succeeded(create(idp, "--json")).stdout)["client_id"]
    assert_succeeded(idp("clients", "delete", client_id, "--yes"))
    with app.app_context():
        events = [(event.event, event.client_id) for event in reversed(audit.recent(get_session()))]
    assert events == [("client_registered", client_id), ("client_deleted", client_id)]


@pytest.mark.parametrize("command", [("show", "nope"), ("delete", "nope", "--yes"), ("delete", "nope")])
def test_an_unknown_client_is_one_line(idp, command):
    assert_failed(idp("clients", *command), 1, "no client 'nope'")


@pytest.mark.parametrize(
    "options, fragments",
    [
        (("--redirect-uri", "http://rp.example.test/cb"), ("--redirect-uri", "loopback")),
        (("--redirect-uri", "https://rp.example.test/cb#frag"), ("--redirect-uri", "fragment")),
        (("--scope", "openid", "--scope", "admin"), ("--scope", "'admin' is not supported")),
        (("--scopes", "openid everything"), ("--scope", "'everything' is not supported")),
        (
            ("--public", "--auth-method", "client_secret_post"),
            ("--auth-method", "a public client authenticates with 'none'"),
        ),
        (("--auth-method", "none"), ("--auth-method", "must be one of client_secret_basic")),
        (("--grant-type", "password"), ("--grant-type", "'password' is not supported")),
        (("--public", "--grant-type", "client_credentials"), ("--grant-type", "a public client cannot use")),
        (("--client-id", "a b"), ("--client-id", "must be 3-64 characters")),
    ],
)
def test_bad_input_is_one_line_and_stores_nothing(idp, options, fragments):
    assert_failed(create(idp, *options), 1, *fragments)
    assert json.loads(idp("clients", "list", "--json").stdout) == []


def test_a_taken_client_id_is_refused(idp, make_client):
    make_client(client_id="saldo-jht")
    assert_failed(create(idp, "--client-id", "saldo-jht"), 1, "--client-id is already registered")


def test_an_empty_name_is_refused(idp):
    result = idp("clients", "create", "--name", "  ", "--redirect-uri", REDIRECT_URI)
    assert_failed(result, 1, "--name must not be empty")


def test_a_required_level_is_set_at_registration_and_changed_by_update(idp, app, make_member):
    from tests.helpers.oidc import AuthorizationRequest
    from tests.helpers.second_factor import password_step

    member = make_member()
    result = assert_succeeded(
        create(idp, "--public", "--client-id", "strict-portal", "--require-acr", "urn:idp:acr:mfa", "--json")
    )
    assert json.loads(result.stdout)["required_acr"] == "urn:idp:acr:mfa"
    # A member without a factor must set one up before this client gets anything.
    first = password_step(app.test_client(), AuthorizationRequest("strict-portal"), member)
    assert first.headers["Location"].endswith("/second-factor")

    updated = assert_succeeded(idp("clients", "update", "strict-portal", "--require-acr", ""))
    assert updated.stdout == "updated client strict-portal: required_acr\n"
    assert json.loads(idp("clients", "show", "strict-portal", "--json").stdout)["required_acr"] is None
    again = password_step(app.test_client(), AuthorizationRequest("strict-portal"), member)
    assert not again.headers["Location"].endswith("/second-factor")
    assert assert_succeeded(idp("clients", "update", "strict-portal", "--require-acr", "")).stdout == (
        "client strict-portal unchanged\n"
    )


def test_an_unknown_level_is_refused_naming_the_option(idp):
    assert_failed(create(idp, "--require-acr", "urn:example:loa:4"), 1, "--require-acr", "urn:idp:acr:mfa")
    assert_succeeded(create(idp, "--client-id", "portal"))
    assert_failed(idp("clients", "update", "portal", "--require-acr", "gold"), 1, "--require-acr")
    assert_failed(idp("clients", "update", "nobody", "--name", "X"), 1, "no client")
