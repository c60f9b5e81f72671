"""Issue 10 §7: a pending activation is not someone else's to redo. Whoever knows the
membership number, NIK and birth date cannot replace the owner's email and password while
the first link works; the first address is told. And an email address is normalised the
same way when stored and when looked up."""

from __future__ import annotations

import pytest

from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import LoginPage
from tests.http.test_activation import (
    PASSWORD,
    activate_until_mail,
    activation_links,
    confirm,
    enter_account,
    enter_record,
    record,  # noqa: F401 - the fixture
    stored,
)

pytestmark = pytest.mark.settings(ratelimit={"activation_per_ip": "100 per minute"})


def _enter(client, member):
    return enter_record(client, member.membership_number, member.nik, member.birth_date.isoformat())


def test_a_pending_activation_is_not_replaced_while_its_link_works(app, rp, record, outbox):  # noqa: F811
    activate_until_mail(app.test_client(), record, email="owner@example.test")
    (owners_link,) = activation_links(outbox, to="owner@example.test")

    attacker = app.test_client()
    refused = _enter(attacker, record)
    assert refused.status_code == 409
    assert 'data-testid="activation_pending"' in refused.text
    assert "o***@example.test" in refused.text and "owner@example.test" not in refused.text
    assert attacker.get("/activate/account").status_code == 303  # step 2 stays closed

    # The first address is told; nothing went to anyone else.
    told = [mail for mail in outbox() if mail.to == "owner@example.test" and "again" in mail.subject]
    assert len(told) == 1
    assert activation_links(outbox, to="attacker@example.test") == []

    # The owner's link still works, with the owner's password.
    assert confirm(app.test_client(), owners_link).status_code == 200
    assert stored(app, record.membership_number).email == "owner@example.test"
    signed_in = LoginPage(app.test_client(), rp.client_id).attempt("owner@example.test", PASSWORD)
    assert signed_in.status_code == 303


def test_a_record_checked_before_the_owners_step_two_cannot_replace_it(app, record, outbox):  # noqa: F811
    """The attacker passes step 1 first and waits; the owner finishes step 2; the attacker's
    step 2 is refused, and the owner's link keeps working."""
    attacker = app.test_client()
    assert _enter(attacker, record).status_code == 303
    activate_until_mail(app.test_client(), record, email="owner@example.test")

    late = enter_account(attacker, email="attacker@example.test", password="attacker's own passphrase 1")
    assert late.status_code == 409
    assert 'data-testid="activation_pending"' in late.text
    (owners_link,) = activation_links(outbox, to="owner@example.test")
    assert confirm(app.test_client(), owners_link).status_code == 200
    assert activation_links(outbox, to="attacker@example.test") == []


def test_after_the_link_expired_the_record_can_be_activated_again(app, record, outbox, moving_clock):  # noqa: F811
    activate_until_mail(app.test_client(), record, email="typo@example.test")
    moving_clock.advance(86400 + 1)
    activate_until_mail(app.test_client(), record, email="right@example.test")
    (link,) = activation_links(outbox, to="right@example.test")
    assert confirm(app.test_client(), link).status_code == 200
    assert stored(app, record.membership_number).email == "right@example.test"


def test_an_email_is_normalised_alike_when_stored_and_when_looked_up(app, rp, make_member):
    # Full-width letters (an Indonesian IME can type them): NFKC makes them ASCII.
    member = make_member(email="ｒｉｎａ@Example.TEST")
    assert member.email == "rina@example.test"
    answered = LoginPage(app.test_client(), rp.client_id).attempt("rina@example.test", DEMO_PASSWORD)
    assert answered.status_code == 303
    again = LoginPage(app.test_client(), rp.client_id).attempt("ｒｉｎａ@example.test", DEMO_PASSWORD)
    assert again.status_code == 303
