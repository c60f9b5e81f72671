"""The operator side of the token lifecycle: `idp resource-servers`, `idp clients create/update`
with keys, audiences, lifetimes and a known secret, and `idp members lock` revoking tokens."""

from __future__ import annotations

import base64
import json
import re

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select

from idp.db import get_session
from idp.models import ResourceServer
from idp.services.clients import get_client
from tests.cli.conftest import assert_failed, assert_succeeded
from tests.http.test_refresh_tokens import sign_in

REDIRECT_URI = "https://rp.example.test/callback"
KNOWN_SECRET = "a-secret-moved-from-the-old-provider-0123456789"


def create(idp, *options: str, input: str | None = None):
    return idp("clients", "create", "--name", "Ledger", "--redirect-uri", REDIRECT_URI, *options, input=input)


def client_id_of(result) -> str:
    return re.search(r"^client_id:\s+(\S+)$", result.stdout, re.M).group(1)


def stored(app, client_id: str):
    with app.app_context():
        return get_client(get_session(), client_id)


# --- resource servers -----------------------------------------------------------------------


def test_resource_servers_create_list_delete(idp, app, client):
    made = assert_succeeded(
        idp("resource-servers", "create", "--name", "Pensions", "--audience", "https://pensions.example.test")
    )
    name = re.search(r"^introspection_id:\s+(\S+)$", made.stdout, re.M).group(1)
    secret = re.search(r"^introspection_secret:\s+(\S+)$", made.stdout, re.M).group(1)
    with app.app_context():
        row = get_session().scalar(select(ResourceServer))
        assert secret not in row.secret_hash and len(row.secret_hash) == 64
    # The credentials work at the introspection endpoint.
    basic = base64.b64encode(f"{name}:{secret}".encode()).decode()
    answer = client.post("/introspect", data={"token": "x"}, headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200 and answer.json == {"active": False}

    listed = json.loads(assert_succeeded(idp("resource-servers", "list", "--json")).stdout)
    assert [(item["audience"], item["introspection_id"]) for item in listed] == [
        ("https://pensions.example.test", name)
    ]
    assert secret not in assert_succeeded(idp("resource-servers", "list")).stdout

    assert_failed(
        idp("resource-servers", "create", "--name", "Again", "--audience", "https://pensions.example.test"),
        1,
        "already registered",
    )
    assert_failed(idp("resource-servers", "create", "--name", "Bad", "--audience", "pensions"), 1, "absolute URI")

    assert_succeeded(idp("resource-servers", "delete", "https://pensions.example.test", "--yes"))
    assert "no resource servers" in assert_succeeded(idp("resource-servers", "list")).stdout
    answer = client.post("/introspect", data={"token": "x"}, headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 401


# --- clients --------------------------------------------------------------------------------


def test_a_known_secret_from_standard_input(idp, app):
    result = assert_succeeded(create(idp, "--secret-stdin", input=KNOWN_SECRET + "\n"))
    assert KNOWN_SECRET not in result.output
    assert stored(app, client_id_of(result)).check_client_secret(KNOWN_SECRET)

    assert_failed(create(idp, "--secret-stdin", input="short\n"), 1, "at least 32 characters")

    client_id = client_id_of(assert_succeeded(create(idp)))
    changed = assert_succeeded(idp("clients", "update", client_id, "--secret-stdin", input=KNOWN_SECRET + "\n"))
    assert "secret" in changed.stdout and KNOWN_SECRET not in changed.output
    assert stored(app, client_id).check_client_secret(KNOWN_SECRET)


def test_private_key_jwt_clients_register_public_keys(idp, app, tmp_path):
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    public = tmp_path / "jwks.json"
    public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))

    result = assert_succeeded(
        create(
            idp, "--auth-method", "private_key_jwt", "--jwks-file", str(public), "--grant-type", "client_credentials"
        )
    )
    assert "client_secret" not in result.stdout
    registered = stored(app, client_id_of(result))
    assert registered.client_secret_hash is None and json.loads(registered.jwks_json)["keys"][0]["kid"] == "k1"

    assert_failed(create(idp, "--auth-method", "private_key_jwt"), 1, "--jwks", "--jwks-uri")
    assert_failed(create(idp, "--auth-method", "private_key_jwt", "--jwks-file", str(private)), 1, "public keys only")
    assert_failed(
        create(idp, "--auth-method", "private_key_jwt", "--jwks-uri", "http://keys.example.test/jwks"), 1, "https"
    )
    assert_failed(create(idp, "--jwks-uri", "https://keys.example.test/jwks"), 1, "only for a client using")


def test_update_changes_uris_grants_auth_method_audiences_and_lifetime(idp, app, tmp_path):
    assert_succeeded(idp("resource-servers", "create", "--name", "P", "--audience", "https://pensions.example.test"))
    client_id = client_id_of(assert_succeeded(create(idp)))
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    public = tmp_path / "jwks.json"
    public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))

    changed = assert_succeeded(
        idp(
            "clients",
            "update",
            client_id,
            "--redirect-uri",
            "https://rp.example.test/a",
            "--redirect-uri",
            "https://rp.example.test/b",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            str(public),
            "--audience",
            "https://pensions.example.test",
            "--access-token-ttl",
            "120",
            "--always-refresh",
            "--require-acr",
            "urn:idp:acr:mfa",
        )
    )
    for field in ("redirect_uris", "grant_types", "token_endpoint_auth_method", "jwks", "audiences"):
        assert field in changed.stdout, field
    registered = stored(app, client_id)
    assert registered.redirect_uris == ["https://rp.example.test/a", "https://rp.example.test/b"]
    assert registered.grant_types == ["authorization_code", "refresh_token"]
    assert registered.token_endpoint_auth_method == "private_key_jwt" and registered.client_secret_hash is None
    assert registered.audiences == ["https://pensions.example.test"]
    assert registered.access_token_ttl_seconds == 120 and registered.always_issue_refresh_token is True
    assert "unchanged" in assert_succeeded(idp("clients", "update", client_id, "--access-token-ttl", "120")).stdout

    assert_failed(idp("clients", "update", client_id, "--audience", "https://nope.example.test"), 1, "not a registered")
    assert_failed(idp("clients", "update", client_id, "--access-token-ttl", "999999"), 1, "between")
    assert_failed(idp("clients", "update", client_id, "--grant-type", "password"), 1, "not supported")
    # Back to a secret: it must come with one.
    assert_failed(
        idp("clients", "update", client_id, "--auth-method", "client_secret_basic", "--jwks-file", "/dev/null"), 1
    )


@pytest.mark.parametrize(
    "uri, fragment",
    [
        ("https://*.example.test/cb", "wildcard host"),
        ("https://rp.example.test/cb#x", "fragment"),
        ("http://rp.example.test/cb", "loopback"),
    ],
)
def test_unsafe_redirect_uris_are_refused_in_one_line(idp, uri, fragment):
    assert_failed(idp("clients", "create", "--name", "X", "--redirect-uri", uri), 1, fragment)
    client_id = client_id_of(assert_succeeded(create(idp)))
    assert_failed(idp("clients", "update", client_id, "--redirect-uri", uri), 1, fragment)


# --- operator lock ------------------------------------------------------------------------------


def test_an_operator_lock_revokes_refresh_and_access_tokens(idp, app, client, make_member, make_client):
    member = make_member()
    registered, secret = make_client(
        scopes=["openid", "offline_access"], grant_types=["authorization_code", "refresh_token"]
    )
    tokens = sign_in(client, member, registered, secret, scope="openid offline_access")

    assert_succeeded(idp("members", "lock", member.email, "--reason", "reported stolen phone"))

    basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    refused = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert refused.status_code == 400 and refused.json["error"] == "invalid_grant"
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401


def test_deleting_a_client_revokes_its_refresh_tokens(idp, app, client, make_member, make_client):
    from idp.models import RefreshToken

    member = make_member()
    registered, secret = make_client(
        scopes=["openid", "offline_access"], grant_types=["authorization_code", "refresh_token"]
    )
    sign_in(client, member, registered, secret, scope="openid offline_access")
    assert_succeeded(idp("clients", "delete", registered.client_id, "--yes"))
    with app.app_context():
        (record,) = get_session().scalars(select(RefreshToken)).all()
        assert record.revoked_at is not None


@pytest.mark.settings(tokens={"refresh_token_idle_seconds": 1000, "refresh_token_absolute_seconds": 2000})
def test_purge_deletes_only_tokens_that_can_no_longer_be_used(idp, app, client, make_member, make_client, moving_clock):
    from idp.models import IssuedToken, RefreshToken

    member = make_member()
    registered, secret = make_client(
        scopes=["openid", "offline_access"], grant_types=["authorization_code", "refresh_token"]
    )
    sign_in(client, member, registered, secret, scope="openid offline_access")
    assert "deleted 0 refresh tokens and 0 access-token records" in assert_succeeded(idp("tokens", "purge")).stdout

    moving_clock.advance(601)  # the access token expired; the refresh-token chain lives on
    assert "deleted 0 refresh tokens and 1 access-token records" in assert_succeeded(idp("tokens", "purge")).stdout
    moving_clock.advance(1400)
    assert "deleted 1 refresh tokens" in assert_succeeded(idp("tokens", "purge")).stdout
    with app.app_context():
        db = get_session()
        assert db.scalars(select(RefreshToken)).all() == [] and db.scalars(select(IssuedToken)).all() == []
