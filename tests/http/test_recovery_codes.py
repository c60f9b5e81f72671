"""Recovery codes: ten single-use codes shown once with the first factor, stored as digests,
regenerable (which voids the old set), and a way through the challenge at the app level."""

from __future__ import annotations

import re

from sqlalchemy import select

from idp.db import get_session
from idp.models import RecoveryCode
from idp.services.assurance import ACR_PASSWORD_AUTHENTICATOR
from tests.helpers.oidc import AuthorizationRequest, csrf_token
from tests.helpers.second_factor import (
    enrol_totp,
    id_token_claims,
    member_with_totp,
    next_step,
    recovery_codes_on,
    sign_in_to_account,
    submit_recovery_code,
    to_challenge,
    to_client,
)

CODE_SHAPE = re.compile(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}")


def test_ten_codes_are_shown_once_with_the_first_factor_and_stored_as_digests(app, client, make_member):
    member = make_member()
    sign_in_to_account(client, member)
    seed, codes = enrol_totp(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(CODE_SHAPE.fullmatch(code) for code in codes)
    with app.app_context():
        stored = get_session().scalars(select(RecoveryCode)).all()
        assert len(stored) == 10
        digests = {row.code_digest for row in stored}
        assert not any(code in digest for code in codes for digest in digests)

    # Never shown again: the Security page only counts them, a second app adds none.
    page = client.get("/account/security/")
    assert 'data-count="10"' in page.text
    assert not any(code in page.text for code in codes)
    next_step()
    _, more = enrol_totp(client)
    assert more == []


def test_a_recovery_code_signs_in_once_at_the_app_level(app, rp, make_member):
    member, _, codes = member_with_totp(app, make_member)
    request = AuthorizationRequest(rp.client_id)
    client = app.test_client()
    uid = to_challenge(client, request, member)
    page = client.get(f"/interaction/{uid}/recovery")
    assert 'data-testid="recovery-form"' in page.text and 'data-testid="use-totp"' in page.text

    # Typed loosely: upper case, spaces instead of dashes.
    passed = submit_recovery_code(client, uid, codes[0].upper().replace("-", " "))
    assert passed.status_code == 303
    claims = id_token_claims(client, to_client(client, passed), request)
    assert claims["acr"] == ACR_PASSWORD_AUTHENTICATOR
    assert claims["amr"] == ["pwd", "mfa"]

    other = app.test_client()
    uid = to_challenge(other, AuthorizationRequest(rp.client_id), member)
    used_again = submit_recovery_code(other, uid, codes[0])
    assert used_again.status_code == 401 and 'data-testid="code_wrong"' in used_again.text
    assert submit_recovery_code(other, uid, codes[1]).status_code == 303
    with app.app_context():
        used = get_session().scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
        assert len(used) == 2


def test_regenerating_voids_the_old_set(app, client, rp, make_member):
    member = make_member()
    sign_in_to_account(client, member)
    seed, old_codes = enrol_totp(client)
    page = client.get("/account/security/")
    regenerated = client.post("/account/security/recovery-codes", data={"csrf_token": csrf_token(page.text)})
    assert regenerated.status_code == 200
    assert regenerated.headers["Cache-Control"] == "no-store"
    new_codes = recovery_codes_on(regenerated.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)

    browser = app.test_client()
    uid = to_challenge(browser, AuthorizationRequest(rp.client_id), member)
    assert submit_recovery_code(browser, uid, old_codes[0]).status_code == 401
    assert submit_recovery_code(browser, uid, new_codes[0]).status_code == 303
