"""`idp keys`: ensure, list and rotate; retired keys stay published."""

from __future__ import annotations

import json

from sqlalchemy import select

from idp.db import get_session
from idp.models import SigningKey
from idp.security.jose import SUPPORTED_SIGNING_ALGS
from tests.cli.conftest import assert_succeeded


def listed_keys(idp) -> list[dict]:
    return json.loads(assert_succeeded(idp("keys", "list", "--json")).stdout)


def test_ensure_makes_one_key_per_algorithm_once(idp):
    first = assert_succeeded(idp("keys", "ensure"))
    assert first.stdout.count("created") == len(SUPPORTED_SIGNING_ALGS)
    again = assert_succeeded(idp("keys", "ensure"))
    assert again.stdout == "signing keys already present\n"
    assert sorted(key["alg"] for key in listed_keys(idp)) == sorted(SUPPORTED_SIGNING_ALGS)


def test_list_shows_public_facts_and_never_key_material(idp, app):
    assert assert_succeeded(idp("keys", "list")).stdout.startswith("no signing keys yet")
    assert_succeeded(idp("keys", "ensure"))

    as_json = listed_keys(idp)
    text = assert_succeeded(idp("keys", "list")).stdout

    assert all(set(key) == {"kid", "alg", "state", "created_at", "retired_at"} for key in as_json)
    assert {key["state"] for key in as_json} == {"active"}
    assert text.splitlines()[0].split() == ["KID", "ALG", "STATE", "CREATED_AT", "RETIRED_AT"]
    with app.app_context():
        stored = get_session().scalars(select(SigningKey)).all()
        for key in stored:
            assert key.kid in text
            assert key.private_jwk_encrypted not in text + json.dumps(as_json)
            # Not even the public key: the JWKS is the place for that.
            assert json.loads(key.public_jwk_json)["x" if key.alg == "ES256" else "n"] not in text


def test_rotate_retires_the_active_keys_and_keeps_them_in_the_jwks(idp, client):
    assert_succeeded(idp("keys", "ensure"))
    old_kids = {key["kid"] for key in listed_keys(idp)}

    rotated = assert_succeeded(idp("keys", "rotate"))

    keys = {key["kid"]: key for key in listed_keys(idp)}
    new_kids = set(keys) - old_kids
    assert len(new_kids) == len(SUPPORTED_SIGNING_ALGS)
    assert all(kid in rotated.stdout for kid in new_kids)
    assert "stay published in /jwks" in rotated.stdout
    assert {keys[kid]["state"] for kid in new_kids} == {"active"}
    assert all(keys[kid]["state"] == "retired" and keys[kid]["retired_at"] for kid in old_kids)
    published = {key["kid"] for key in client.get("/jwks").json["keys"]}
    assert published == old_kids | new_kids


def test_rotate_is_recorded_in_the_audit_trail(idp, app):
    from idp.services import audit

    assert_succeeded(idp("keys", "rotate"))
    with app.app_context():
        (event,) = audit.recent(get_session())
    assert event.event == "keys_rotated" and event.outcome == "success"
    assert event.actor.startswith("cli")
