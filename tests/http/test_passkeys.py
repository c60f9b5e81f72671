"""Passkeys through HTTP, answered by a software authenticator (tests/helpers/webauthn.py):
added on the Security page after a fresh check (mailed, audited, listed with its name),
used as a second factor reaching the phishing-resistant acr, used to sign in without a
password, and refused for a wrong origin, a replayed or stale challenge, a copied
authenticator, a missing user verification, once removed.
Failed assertions count towards the second-factor lockout."""

from __future__ import annotations

import copy
import json
import re

import pytest
from sqlalchemy import select

from idp.clock import clock
from idp.db import get_session
from idp.models import AuditEvent, Passkey, PasskeyChallenge, SecondFactor
from idp.services.assurance import ACR_PHISHING_RESISTANT
from tests.conftest import DEMO_PASSWORD
from tests.helpers.oidc import AuthorizationRequest, Browser, csrf_token, path_of
from tests.helpers.second_factor import (
    follow,
    id_token_claims,
    interaction_of,
    member_with_totp,
    next_step,
    recovery_codes_on,
    sign_in_to_account,
    submit_totp,
    to_challenge,
    totp_code,
)
from tests.helpers.webauthn import (
    ISSUER,
    SoftAuthenticator,
    add_passkey,
    answer_second_factor,
    member_with_passkey,
    options,
    passwordless,
)


def events(app, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(get_session().scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_a_passkey_is_added_after_a_fresh_check_listed_mailed_and_audited(app, make_member, outbox):
    member = make_member(locale="en")
    browser = app.test_client()
    sign_in_to_account(browser, member)
    authenticator = SoftAuthenticator(ISSUER)
    page = browser.get("/account/security/passkey")
    assert 'data-testid="passkey-explained"' in page.text
    registration = json.loads(options(browser, "/account/security/passkey/options", page.text))
    # The relying party comes from the issuer, whatever Host the request named.
    assert registration["rp"]["id"] == "idp.test"
    assert registration["authenticatorSelection"]["residentKey"] == "preferred"
    assert member.email not in registration["user"]["id"] and member.membership_number not in registration["user"]["id"]

    done = add_passkey(browser, authenticator, label="Pixel 8")
    assert done.status_code == 200 and len(recovery_codes_on(done.text)) == 10
    listed = browser.get("/account/security/")
    assert 'data-kind="passkey"' in listed.text and "Pixel 8" in listed.text
    assert 'data-testid="passkey-where" data-synced="false"' in listed.text
    with app.app_context():
        stored = get_session().scalar(select(Passkey).where(Passkey.member_id == member.id))
        assert stored.sign_count == 0 and stored.backup_eligible is False
    assert [e.outcome for e in events(app, "second_factor_enrolled")] == ["success"]
    assert [m for m in outbox() if m.to == member.email and "second factor was added" in m.subject]


def test_without_a_fresh_check_adding_a_passkey_asks_for_one_and_a_passkey_passes_it(app, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    browser = app.test_client()
    sign_in_to_account_with_passkey(app, browser, member, authenticator)
    clock.advance(11 * 60)  # past security.fresh_check_minutes
    page = browser.get("/account/security/passkey")
    assert page.status_code == 303 and "/account/security/verify" in page.headers["Location"]
    # The check page offers the passkey first; passing it opens the way.
    check = browser.get(path_of(page.headers["Location"]))
    refused = browser.post("/account/security/passkey/options", headers={"X-CSRFToken": csrf_token(check.text)})
    assert refused.status_code == 303, "no registration options without the fresh check"
    assert 'data-testid="passkey-form"' in check.text
    answer = authenticator.get(options(browser, "/account/security/verify/passkey/options", check.text))
    action = re.search(r'action="([^"]+)" id="passkey-form"', check.text).group(1).replace("&amp;", "&")
    passed = browser.post(action, data={"csrf_token": csrf_token(check.text), "code": answer})
    assert passed.status_code == 303 and passed.headers["Location"].endswith("/account/security/passkey")
    assert add_passkey(browser, SoftAuthenticator(ISSUER), label="laptop").status_code == 303


def sign_in_to_account_with_passkey(app, browser, member, authenticator):
    started = browser.get("/account/")
    logged_in = Browser(browser).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    uid = interaction_of(logged_in.headers["Location"])
    passed = answer_second_factor(browser, uid, authenticator)
    assert passed.status_code == 303, passed.text[:500]
    assert 'data-testid="account-summary"' in follow(browser, passed).text


def test_a_relying_party_asking_for_phishing_resistance_gets_it_from_the_passkey(app, client, rp, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PHISHING_RESISTANT})
    uid = to_challenge(client, request, member)
    assert client.get(f"/interaction/{uid}/second-factor").headers["Location"].endswith("/passkey")
    passed = answer_second_factor(client, uid, authenticator)
    location = Browser(client).follow_to_client(passed)
    claims = id_token_claims(client, location, request)
    assert claims["acr"] == ACR_PHISHING_RESISTANT
    assert claims["amr"] == ["pwd", "pop", "user", "mfa"]
    assert ACR_PHISHING_RESISTANT in client.get("/.well-known/openid-configuration").json["acr_values_supported"]
    with app.app_context():
        factor = get_session().scalar(select(SecondFactor).where(SecondFactor.member_id == member.id))
        assert factor.last_used_at is not None
        assert get_session().scalar(select(Passkey.sign_count).where(Passkey.member_id == member.id)) == 1


def test_sign_in_without_a_password(app, client, rp, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PHISHING_RESISTANT})
    signed_in = passwordless(client, request, authenticator)
    assert signed_in.status_code == 303, signed_in.text[:500]
    claims = id_token_claims(client, Browser(client).follow_to_client(signed_in), request)
    assert claims["acr"] == ACR_PHISHING_RESISTANT and claims["amr"] == ["pop", "user", "mfa"]
    assert claims["sub"] == member.subject
    by_passkey = [e for e in events(app, "sign_in") if json.loads(e.detail_json).get("method") == "passkey_sign_in"]
    assert [(e.outcome, e.member_id) for e in by_passkey] == [("success", member.id)]


def test_passwordless_needs_user_verification(app, client, rp, make_member):
    _, authenticator, _ = member_with_passkey(app, make_member)
    authenticator.user_verifying = False
    refused = passwordless(client, AuthorizationRequest(rp.client_id), authenticator)
    assert refused.status_code == 401 and 'data-testid="passkey_failed"' in refused.text


def test_a_wrong_origin_or_rp_id_is_refused(app, client, rp, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    refused = passwordless(client, AuthorizationRequest(rp.client_id), authenticator, origin="http://idp.test.evil")
    assert refused.status_code == 401
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    refused = answer_second_factor(client, uid, authenticator, rp_id="evil.test")
    assert refused.status_code == 401 and 'data-testid="passkey_failed"' in refused.text
    # The registration is bound to the origin too.
    other = app.test_client()
    sign_in_to_account(other, make_member())
    assert add_passkey(other, SoftAuthenticator(ISSUER), origin="http://phish.test").status_code == 400


def test_a_challenge_is_bound_to_its_interaction(app, client, rp, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    page = client.get(f"/interaction/{uid}/passkey")
    answer = authenticator.get(options(client, f"/interaction/{uid}/passkey/options", page.text))

    # Another interaction of the same member, in the same browser, cannot use it.
    elsewhere = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    other_page = client.get(f"/interaction/{elsewhere}/passkey")
    stolen = client.post(
        f"/interaction/{elsewhere}/passkey", data={"csrf_token": csrf_token(other_page.text), "code": answer}
    )
    assert stolen.status_code == 401
    # Its own interaction takes it (the try above found no challenge of its own to spend).
    first = client.post(f"/interaction/{uid}/passkey", data={"csrf_token": csrf_token(page.text), "code": answer})
    assert first.status_code == 303
    with app.app_context():
        used = list(get_session().scalars(select(PasskeyChallenge.used_at).where(PasskeyChallenge.transaction == uid)))
        assert used and all(value is not None for value in used)


def test_a_challenge_is_used_once_even_by_a_failed_try(app, client, rp, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    page = client.get(f"/interaction/{uid}/passkey")
    answer = authenticator.get(options(client, f"/interaction/{uid}/passkey/options", page.text))
    tampered = json.loads(answer)
    tampered["response"]["signature"] = tampered["response"]["signature"][:-4] + "AAAA"
    data = {"csrf_token": csrf_token(page.text), "code": json.dumps(tampered)}
    assert client.post(f"/interaction/{uid}/passkey", data=data).status_code == 401
    data["code"] = answer
    assert client.post(f"/interaction/{uid}/passkey", data=data).status_code == 401, "the challenge was spent"


def test_a_newer_challenge_voids_the_older_and_challenges_expire(app, client, rp, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    page = client.get(f"/interaction/{uid}/passkey")
    older = authenticator.get(options(client, f"/interaction/{uid}/passkey/options", page.text))
    newer = authenticator.get(options(client, f"/interaction/{uid}/passkey/options", page.text))
    data = {"csrf_token": csrf_token(page.text)}
    assert client.post(f"/interaction/{uid}/passkey", data={**data, "code": older}).status_code == 401
    late = authenticator.get(options(client, f"/interaction/{uid}/passkey/options", page.text))
    clock.advance(5 * 60 + 1)
    assert client.post(f"/interaction/{uid}/passkey", data={**data, "code": late}).status_code == 401
    assert newer  # voided by ``late`` as well


def test_a_cloned_authenticator_is_refused_and_audited(app, client, rp, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    clone = copy.deepcopy(authenticator)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert answer_second_factor(client, uid, authenticator).status_code == 303
    authenticator.get('{"challenge": "x", "rpId": "idp.test"}')  # used once more elsewhere: count 2

    other = app.test_client()
    uid = to_challenge(other, AuthorizationRequest(rp.client_id), member)
    # The copy still counts from 0: its next count (1) is not above the stored 1.
    refused = answer_second_factor(other, uid, clone)
    assert refused.status_code == 401
    [event] = events(app, "passkey_clone_suspected")
    assert event.member_id == member.id and event.outcome == "refused"
    # The real authenticator goes on working.
    assert answer_second_factor(other, uid, authenticator).status_code == 303


def test_a_counter_that_stays_at_zero_is_accepted(app, client, rp, make_member):
    member = make_member()
    browser = app.test_client()
    sign_in_to_account(browser, member)
    counterless = SoftAuthenticator(ISSUER, count_step=0, backup_eligible=True, backed_up=True)
    assert add_passkey(browser, counterless).status_code == 200
    assert 'data-testid="passkey-where" data-synced="true"' in browser.get("/account/security/").text
    for _ in range(2):
        fresh = app.test_client()
        uid = to_challenge(fresh, AuthorizationRequest(rp.client_id), member)
        assert answer_second_factor(fresh, uid, counterless).status_code == 303
    # Backup eligibility may not change over the passkey's life.
    counterless.backup_eligible = counterless.backed_up = False
    fresh = app.test_client()
    uid = to_challenge(fresh, AuthorizationRequest(rp.client_id), member)
    assert answer_second_factor(fresh, uid, counterless).status_code == 401


@pytest.mark.settings(lockout={"max_failures": 3})
def test_failed_assertions_count_towards_the_second_factor_lock(app, client, rp, make_member):
    member, authenticator, _ = member_with_passkey(app, make_member)
    stranger = SoftAuthenticator(ISSUER, credential_id=authenticator.credential_id)  # same id, another key
    stranger.user_handle = authenticator.user_handle
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    statuses = [answer_second_factor(client, uid, stranger).status_code for _ in range(3)]
    assert statuses == [401, 401, 423]
    # Locked: even the real passkey is not checked now, and passwordless is locked too.
    assert answer_second_factor(client, uid, authenticator).status_code == 423
    locked = passwordless(app.test_client(), AuthorizationRequest(rp.client_id), authenticator)
    assert locked.status_code == 423 and 'data-testid="account_locked"' in locked.text


def test_an_unknown_passkey_signs_nobody_in(app, client, rp, make_member):
    member_with_passkey(app, make_member)
    refused = passwordless(client, AuthorizationRequest(rp.client_id), SoftAuthenticator(ISSUER))
    assert refused.status_code == 401 and 'data-testid="passkey_failed"' in refused.text


def test_a_removed_passkey_stops_working(app, client, rp, make_member, outbox):
    member, authenticator, _ = member_with_passkey(app, make_member, locale="en")
    browser = app.test_client()
    sign_in_to_account_with_passkey(app, browser, member, authenticator)
    page = browser.get("/account/security/")
    with app.app_context():
        factor_id = get_session().scalar(select(SecondFactor.id).where(SecondFactor.member_id == member.id))
    removed = browser.post(f"/account/security/factors/{factor_id}/remove", data={"csrf_token": csrf_token(page.text)})
    assert removed.status_code == 303
    with app.app_context():
        assert get_session().scalar(select(Passkey).where(Passkey.member_id == member.id)) is None
    assert [m for m in outbox() if m.to == member.email and "second factor was removed" in m.subject]
    assert [e.outcome for e in events(app, "second_factor_removed")] == ["success"]
    refused = passwordless(client, AuthorizationRequest(rp.client_id), authenticator)
    assert refused.status_code == 401


def test_recovery_codes_remain_the_way_back(app, client, rp, make_member):
    member, _, codes = member_with_passkey(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    page = client.get(f"/interaction/{uid}/passkey")
    assert 'data-testid="use-recovery"' in page.text
    # Without the script (or passkey support) the page says so; the form stays hidden.
    assert 'data-testid="passkey-unsupported"' in page.text and 'data-testid="passkey-form" hidden' in page.text
    recovery = client.get(f"/interaction/{uid}/recovery")
    used = client.post(f"/interaction/{uid}/recovery", data={"csrf_token": csrf_token(recovery.text), "code": codes[0]})
    assert used.status_code == 303
    assert Browser(client).follow_to_client(used).startswith("https://rp.example.test/callback")


def test_options_need_the_interaction_of_this_browser(app, client, rp, make_member):
    member, _, _ = member_with_passkey(app, make_member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    page = client.get(f"/interaction/{uid}/passkey")
    other = app.test_client()
    other.get("/account/")  # a session of its own
    response = other.post(f"/interaction/{uid}/passkey/options", headers={"X-CSRFToken": csrf_token(page.text)})
    assert response.status_code != 200


def enrol_in_sign_in(client, uid: str, authenticator: SoftAuthenticator):
    page = client.get(f"/interaction/{uid}/enrol")
    assert page.status_code == 200 and 'data-testid="passkey-setup-form"' in page.text, page.status_code
    answer = authenticator.create(options(client, f"/interaction/{uid}/enrol/passkey/options", page.text))
    return page, client.post(
        f"/interaction/{uid}/enrol/passkey", data={"csrf_token": csrf_token(page.text), "code": answer, "label": ""}
    )


@pytest.mark.settings(security={"require_mfa": True})
def test_a_passkey_can_be_the_factor_set_up_during_a_sign_in(app, client, rp, make_member):
    member = make_member()
    request = AuthorizationRequest(rp.client_id)
    uid = to_challenge(client, request, member)
    page, done = enrol_in_sign_in(client, uid, SoftAuthenticator(ISSUER))
    assert 'data-testid="totp-setup-form"' in page.text or "totp-secret" in page.text  # the app is offered too
    assert done.status_code == 200 and len(recovery_codes_on(done.text)) == 10
    location = Browser(client).follow_to_client(client.get(f"/interaction/{uid}"))
    assert id_token_claims(client, location, request)["acr"] == ACR_PHISHING_RESISTANT


def test_asking_for_phishing_resistance_a_member_with_an_app_proves_it_then_adds_a_passkey(
    app, client, rp, make_member
):
    member, seed, _ = member_with_totp(app, make_member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PHISHING_RESISTANT})
    uid = to_challenge(client, request, member)
    # The app does not reach the level: it only proves it is the member, then a passkey is made.
    proved = submit_totp(client, uid, totp_code(seed))
    assert proved.status_code == 303 and proved.headers["Location"].endswith("/enrol")
    page, done = enrol_in_sign_in(client, uid, SoftAuthenticator(ISSUER))
    assert "totp-secret" not in page.text, "an app would not reach the level asked for"
    assert done.status_code == 303
    claims = id_token_claims(client, Browser(client).follow_to_client(done), request)
    assert claims["acr"] == ACR_PHISHING_RESISTANT


def test_without_a_factor_proven_no_passkey_is_added_during_a_sign_in(app, client, rp, make_member):
    member, _, _ = member_with_totp(app, make_member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PHISHING_RESISTANT})
    uid = to_challenge(client, request, member)
    page = client.get(f"/interaction/{uid}/second-factor")
    assert 'data-testid="totp-before-enrolment"' in page.text
    response = client.post(f"/interaction/{uid}/enrol/passkey/options", headers={"X-CSRFToken": csrf_token(page.text)})
    assert response.status_code == 409


def test_a_session_at_the_app_level_is_stepped_up_with_the_passkey(app, client, rp, make_member):
    from idp.services.assurance import ACR_PASSWORD_AUTHENTICATOR

    member, seed, _ = member_with_totp(app, make_member)
    browser = app.test_client()
    # The member adds a passkey in a session that passed the app.
    started = browser.get("/account/")
    logged_in = Browser(browser).login(started.headers["Location"], member.email, DEMO_PASSWORD)
    uid = interaction_of(logged_in.headers["Location"])
    assert follow(browser, submit_totp(browser, uid, totp_code(seed))).status_code == 200
    authenticator = SoftAuthenticator(ISSUER)
    assert add_passkey(browser, authenticator).status_code == 303  # not the first factor: no new codes

    # Asked for the app level, the member may still use the app (the passkey is offered first).
    next_step()
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR})
    uid = to_challenge(client, request, member)
    page = client.get(f"/interaction/{uid}/passkey")
    assert 'data-testid="use-totp"' in page.text
    with_app = client.post(
        f"/interaction/{uid}/second-factor", data={"csrf_token": csrf_token(page.text), "code": totp_code(seed)}
    )
    location = Browser(client).follow_to_client(with_app)
    assert id_token_claims(client, location, request)["acr"] == ACR_PASSWORD_AUTHENTICATOR

    # Then a relying party asks for more: the signed-in session is stepped up with the passkey.
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PHISHING_RESISTANT})
    stepped = client.get(request.url())
    assert stepped.status_code == 303 and "/interaction/" in stepped.headers["Location"]
    uid = interaction_of(stepped.headers["Location"])
    passed = answer_second_factor(client, uid, authenticator)
    claims = id_token_claims(client, Browser(client).follow_to_client(passed), request)
    assert claims["acr"] == ACR_PHISHING_RESISTANT and claims["amr"] == ["pwd", "pop", "user", "mfa"]


def test_an_account_locked_by_an_operator_cannot_sign_in_with_a_passkey(app, client, rp, make_member):
    from idp.services import lockout

    member, authenticator, _ = member_with_passkey(app, make_member)
    with app.app_context():
        key, _ = lockout.subject_for(get_session(), member.email)
        lockout.lock_by_operator(get_session(), key, member.id, "fraud report", "support")
    locked = passwordless(client, AuthorizationRequest(rp.client_id), authenticator)
    assert locked.status_code == 423 and 'data-testid="account_locked"' in locked.text


def test_a_client_requiring_a_passkey_takes_a_recovery_code_as_proof_then_a_new_passkey(
    app, client, make_client, make_member
):
    strict, _ = make_client(public=True, required_acr=ACR_PHISHING_RESISTANT)
    member, lost, codes = member_with_passkey(app, make_member)
    request = AuthorizationRequest(strict.client_id)
    uid = to_challenge(client, request, member)
    recovery = client.get(f"/interaction/{uid}/recovery")
    assert 'data-testid="recovery-before-enrolment"' in recovery.text
    used = client.post(f"/interaction/{uid}/recovery", data={"csrf_token": csrf_token(recovery.text), "code": codes[0]})
    # A recovery code does not reach the level: it proves it is the member, who adds a new passkey.
    assert used.status_code == 303 and used.headers["Location"].endswith("/enrol")
    _, done = enrol_in_sign_in(client, uid, SoftAuthenticator(ISSUER))
    assert done.status_code == 303
    assert id_token_claims(client, Browser(client).follow_to_client(done), request)["acr"] == ACR_PHISHING_RESISTANT
    assert lost  # still listed until the member removes it on the Security page
