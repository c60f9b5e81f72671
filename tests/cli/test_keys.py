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

    assert all(set(key) == {"kid", "alg", "state", "created_at", "sign_from", "retired_at"} for key in as_json)
    assert {key["state"] for key in as_json} == {"signing"}
    assert text.splitlines()[0].split() == ["KID", "ALG", "STATE", "CREATED_AT", "SIGN_FROM", "RETIRED_AT"]
    with app.app_context():
        stored = get_session().scalars(select(SigningKey)).all()
        for key in stored:
            assert key.kid in text
            assert key.private_jwk_encrypted not in text + json.dumps(as_json)
            # Not even the public key: the JWKS is the place for that.
            assert json.loads(key.public_jwk_json)["x" if key.alg == "ES256" else "n"] not in text


def test_rotate_publishes_new_keys_at_once_and_signs_with_them_only_later(idp, client, moving_clock):
    assert_succeeded(idp("keys", "ensure"))
    old_kids = {key["kid"] for key in listed_keys(idp)}

    rotated = assert_succeeded(idp("keys", "rotate"))

    keys = {key["kid"]: key for key in listed_keys(idp)}
    new_kids = set(keys) - old_kids
    assert len(new_kids) == len(SUPPORTED_SIGNING_ALGS)
    assert all(kid in rotated.stdout for kid in new_kids)
    assert "stay published in /jwks" in rotated.stdout
    assert {keys[kid]["state"] for kid in new_kids} == {"published"}
    assert {keys[kid]["state"] for kid in old_kids} == {"retiring"}
    assert {key["kid"] for key in client.get("/jwks").json["keys"]} == old_kids | new_kids

    moving_clock.advance(601)  # keys.publish_ahead_seconds

    keys = {key["kid"]: key for key in listed_keys(idp)}
    assert {keys[kid]["state"] for kid in new_kids} == {"signing"}
    assert {keys[kid]["state"] for kid in old_kids} == {"retired"}
    # Retired keys stay published for keys.retired_key_publish_seconds.
    assert {key["kid"] for key in client.get("/jwks").json["keys"]} == old_kids | new_kids
    moving_clock.advance(86400)
    assert {key["kid"] for key in client.get("/jwks").json["keys"]} == new_kids


def test_retire_stops_a_key_at_once_and_its_announced_successor_takes_over(idp):
    assert_succeeded(idp("keys", "ensure"))
    old = {key["alg"]: key["kid"] for key in listed_keys(idp)}
    assert_succeeded(idp("keys", "rotate"))
    announced = {key["alg"]: key["kid"] for key in listed_keys(idp) if key["state"] == "published"}

    retired = assert_succeeded(idp("keys", "retire", old["RS256"]))

    assert f"{announced['RS256']} signs from now" in retired.stdout
    keys = {key["kid"]: key["state"] for key in listed_keys(idp)}
    assert keys[old["RS256"]] == "retired" and keys[announced["RS256"]] == "signing"
    # The other algorithm is untouched.
    assert keys[old["ES256"]] == "retiring" and keys[announced["ES256"]] == "published"


def test_retiring_the_only_key_makes_a_new_one(idp):
    assert_succeeded(idp("keys", "ensure"))
    kid = next(key["kid"] for key in listed_keys(idp) if key["alg"] == "ES256")
    retired = assert_succeeded(idp("keys", "retire", kid))
    signing = [key for key in listed_keys(idp) if key["alg"] == "ES256" and key["state"] == "signing"]
    assert len(signing) == 1 and signing[0]["kid"] != kid
    assert f"{signing[0]['kid']} signs from now" in retired.stdout


def test_retire_an_unknown_key_is_one_line(idp):
    from tests.cli.conftest import assert_failed

    assert_failed(idp("keys", "retire", "nope"), 1, "no signing key 'nope'")
    # A thumbprint may begin with "-" (one kid in 64): it is a kid, not an option.
    assert_failed(idp("keys", "retire", "-oAbc-def"), 1, "no signing key '-oAbc-def'")
    assert_failed(idp("keys", "retire", "-hXYZ"), 1, "no signing key '-hXYZ'")


def test_prune_deletes_retired_keys_only_after_their_tokens_expired(idp, moving_clock):
    assert_succeeded(idp("keys", "ensure"))
    old_kids = {key["kid"] for key in listed_keys(idp)}
    assert_succeeded(idp("keys", "rotate"))
    moving_clock.advance(601)  # the old keys stop signing now

    assert "no retired key" in assert_succeeded(idp("keys", "prune")).stdout
    moving_clock.advance(300)  # an access token signed just before the switch still lives (600 s)
    assert "no retired key" in assert_succeeded(idp("keys", "prune")).stdout
    moving_clock.advance(300)

    pruned = assert_succeeded(idp("keys", "prune"))

    assert all(kid in pruned.stdout for kid in old_kids)
    assert {key["kid"] for key in listed_keys(idp)}.isdisjoint(old_kids)


def test_rotate_is_recorded_in_the_audit_trail(idp, app):
    from idp.services import audit

    assert_succeeded(idp("keys", "rotate"))
    with app.app_context():
        (event,) = audit.recent(get_session())
    assert event.event == "keys_rotated" and event.outcome == "success"
    assert event.actor.startswith("cli")
