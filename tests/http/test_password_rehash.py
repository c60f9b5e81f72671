"""A change of hashing parameters renews a member's hash at their next successful sign-in."""

from __future__ import annotations

import pytest
from passlib.hash import argon2
from sqlalchemy import select

from idp.db import get_session
from idp.models import Member
from idp.security.passwords import verify_password
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, query_of

# The production default, not the suite's cheap one: what a real deployment renews to.
pytestmark = pytest.mark.settings(passwords={"hash_memory_kib": 19456, "hash_time_cost": 2, "hash_parallelism": 1})


def _stored_hash(app, member_id: int) -> str:
    with app.app_context():
        return get_session().scalar(select(Member.password_hash).where(Member.id == member_id))


def test_old_parameters_are_rehashed_on_successful_sign_in(app, client, make_member, make_client):
    member = make_member()
    weak = argon2.using(type="ID", memory_cost=8192, time_cost=1, parallelism=1).hash(DEMO_PASSWORD)
    with app.app_context():
        db = get_session()
        db.get(Member, member.id).password_hash = weak
        db.commit()
    rp, _ = make_client(public=True)

    location = Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)

    assert "code" in query_of(location)
    renewed = _stored_hash(app, member.id)
    assert renewed != weak
    assert "m=19456,t=2,p=1" in renewed
    assert verify_password(DEMO_PASSWORD, renewed)


def test_a_failed_sign_in_leaves_the_hash_alone(app, client, make_member, make_client):
    member = make_member()
    weak = argon2.using(type="ID", memory_cost=8192, time_cost=1, parallelism=1).hash(DEMO_PASSWORD)
    with app.app_context():
        db = get_session()
        db.get(Member, member.id).password_hash = weak
        db.commit()
    rp, _ = make_client(public=True)
    browser = Browser(client)
    started = browser.start(AuthorizationRequest(rp.client_id))

    response = browser.login(started.headers["Location"], member.email, "wrong password entirely")

    assert response.status_code == 401
    assert _stored_hash(app, member.id) == weak


@pytest.mark.settings(passwords={"hash_memory_kib": 12288, "hash_time_cost": 3})
def test_the_configured_parameters_hash_new_passwords_and_renew_old_ones(app, client, make_member, make_client):
    """passwords.hash_* choose the cost: a hash made with the defaults is renewed to them."""
    member = make_member()
    assert "m=12288,t=3,p=1" in _stored_hash(app, member.id)
    default = argon2.using(type="ID", memory_cost=19456, time_cost=2, parallelism=1).hash(DEMO_PASSWORD)
    with app.app_context():
        db = get_session()
        db.get(Member, member.id).password_hash = default
        db.commit()
    rp, _ = make_client(public=True)

    Browser(client).sign_in(AuthorizationRequest(rp.client_id), member.email, DEMO_PASSWORD)

    assert "m=12288,t=3,p=1" in _stored_hash(app, member.id)
