"""Step-up: relying parties ask for a level (acr_values, an essential acr claim, or the client's
registration); the sign-in reaches it, by a challenge or by enrolling a factor, or says why not."""

from __future__ import annotations

import json
import re

import pytest

from idp.services.assurance import (
    ACR_PASSWORD,
    ACR_PASSWORD_AUTHENTICATOR,
    ACR_PASSWORD_EMAIL_CODE,
    ACR_PHISHING_RESISTANT,
)
from tests.helpers.oidc import (
    AuthorizationRequest,
    assert_error_redirect,
    csrf_token,
    path_of,
)
from tests.helpers.second_factor import (
    enrol_totp,
    follow,
    give_totp,
    id_token_claims,
    member_with_email_factor,
    next_step,
    recovery_codes_on,
    secret_on,
    send_email_code,
    sign_in_to_account,
    submit_email_code,
    submit_totp,
    to_challenge,
    to_client,
    totp_code,
)

MFA_CLAIM = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_PASSWORD_AUTHENTICATOR]}}})
CODE = re.compile(r"(?<![\d.])\d{6}(?![\d.])")


def emailed_codes(outbox) -> list[str]:
    return [CODE.search(mail.text).group(0) for mail in outbox() if CODE.search(mail.text)]


def test_discovery_lists_the_levels_weakest_first(client):
    metadata = client.get("/.well-known/openid-configuration").json
    assert metadata["acr_values_supported"] == [
        ACR_PASSWORD,
        ACR_PASSWORD_EMAIL_CODE,
        ACR_PASSWORD_AUTHENTICATOR,
        ACR_PHISHING_RESISTANT,
    ]
    # The claims parameter is supported as a whole now (issue 9), acr in it included.
    assert metadata["claims_parameter_supported"] is True


def test_a_member_without_a_factor_sets_up_an_app_before_the_code_is_issued(client, rp, make_member):
    member = make_member()
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR})
    uid = to_challenge(client, request, member)
    enrol = follow(client, client.get(f"/interaction/{uid}/second-factor"))
    assert 'data-testid="enrol-page"' in enrol.text
    assert 'data-testid="enrol-email"' not in enrol.text  # an emailed code would not reach the level
    assert client.get(f"/authorize/resume/{uid}").headers["Location"] == f"/interaction/{uid}"

    seed = secret_on(enrol.text)
    done = client.post(
        f"/interaction/{uid}/enrol/totp", data={"csrf_token": csrf_token(enrol.text), "code": totp_code(seed)}
    )
    assert done.status_code == 200 and len(recovery_codes_on(done.text)) == 10
    continue_to = re.search(r'href="([^"]+)" data-testid="recovery-codes-continue"', done.text).group(1)
    location = to_client(client, client.get(continue_to))
    claims = id_token_claims(client, location, request)
    assert claims["acr"] == ACR_PASSWORD_AUTHENTICATOR and claims["amr"] == ["pwd", "otp", "mfa"]


def test_a_password_session_is_stepped_up_with_a_challenge_not_a_password(client, rp, make_member, moving_clock):
    member = make_member()
    signed_in_at = moving_clock.now().timestamp()
    sign_in_to_account(client, member)  # no factor yet: a password-only session
    seed, _ = enrol_totp(client)
    next_step()

    plain = AuthorizationRequest(rp.client_id)
    sso = client.get(plain.url())
    assert sso.status_code == 302  # SSO: no level asked, the session's password level is fine
    assert id_token_claims(client, sso.headers["Location"], plain)["acr"] == ACR_PASSWORD

    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR})
    started = client.get(request.url())
    assert started.status_code == 303
    uid = started.headers["Location"].rsplit("/", 1)[-1]
    challenge = follow(client, client.get(path_of(started.headers["Location"])))
    assert 'data-testid="totp-form"' in challenge.text
    assert 'data-testid="login-form"' not in challenge.text
    assert client.get(f"/authorize/resume/{uid}").headers["Location"] == f"/interaction/{uid}"

    location = to_client(client, submit_totp(client, uid, totp_code(seed)))
    claims = id_token_claims(client, location, request)
    assert claims["acr"] == ACR_PASSWORD_AUTHENTICATOR
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    # The step-up keeps the time of the password sign-in it builds on.
    assert abs(claims["auth_time"] - signed_in_at) < 5

    again = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR})
    direct = client.get(again.url())
    assert direct.status_code == 302  # the session is at the level now
    assert id_token_claims(client, direct.headers["Location"], again)["acr"] == ACR_PASSWORD_AUTHENTICATOR


def test_prompt_none_gets_the_lower_level_for_voluntary_acr_values(client, rp, make_member):
    member = make_member()
    sign_in_to_account(client, member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_AUTHENTICATOR, "prompt": "none"})
    answer = client.get(request.url())
    assert answer.status_code == 302
    assert id_token_claims(client, answer.headers["Location"], request)["acr"] == ACR_PASSWORD


def test_prompt_none_with_an_essential_acr_is_interaction_required(client, rp, make_member):
    member = make_member()
    sign_in_to_account(client, member)
    request = AuthorizationRequest(rp.client_id, extra={"claims": MFA_CLAIM, "prompt": "none"})
    assert_error_redirect(client.get(request.url()), request, "interaction_required")


def test_an_essential_acr_is_never_answered_below_it(client, rp, make_member):
    member = make_member()
    sign_in_to_account(client, member)
    request = AuthorizationRequest(rp.client_id, extra={"claims": MFA_CLAIM})
    started = client.get(request.url())
    assert started.status_code == 303  # not a code at the password level: a step-up
    page = follow(client, client.get(path_of(started.headers["Location"])))
    assert 'data-testid="enrol-page"' in page.text


def test_an_essential_acr_of_unknown_levels_is_refused(client, rp, make_member):
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:example:loa:4"]}}})
    request = AuthorizationRequest(rp.client_id, extra={"claims": claims})
    assert_error_redirect(client.get(request.url()), request, "unmet_authentication_requirements")


def test_unknown_voluntary_acr_values_are_ignored(client, rp, make_member):
    member = make_member()
    sign_in_to_account(client, member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": "urn:example:loa:4"})
    answer = client.get(request.url())
    assert answer.status_code == 302
    assert id_token_claims(client, answer.headers["Location"], request)["acr"] == ACR_PASSWORD


def test_a_malformed_claims_parameter_is_an_invalid_request(client, rp):
    request = AuthorizationRequest(rp.client_id, extra={"claims": "{not json"})
    assert_error_redirect(client.get(request.url()), request, "invalid_request")


def test_an_emailed_code_reaches_the_email_level(client, app, rp, make_member, outbox):
    member, _ = member_with_email_factor(app, make_member)
    request = AuthorizationRequest(rp.client_id, extra={"acr_values": ACR_PASSWORD_EMAIL_CODE})
    uid = to_challenge(client, request, member)
    send_email_code(client, uid)
    (code,) = emailed_codes(outbox)
    location = to_client(client, submit_email_code(client, uid, code))
    assert id_token_claims(client, location, request)["acr"] == ACR_PASSWORD_EMAIL_CODE


def test_a_client_registered_for_the_app_level_gets_no_emailed_code_sign_in(
    app, client, make_client, make_member, outbox
):
    make_client(public=True, client_id="strict-portal", required_acr=ACR_PASSWORD_AUTHENTICATOR)
    member, _ = member_with_email_factor(app, make_member)
    request = AuthorizationRequest("strict-portal")  # asks for nothing itself
    uid = to_challenge(client, request, member)

    page = follow(client, client.get(f"/interaction/{uid}/second-factor"))
    assert 'data-testid="email-before-enrolment"' in page.text  # email only proves it is them
    assert 'data-testid="use-recovery"' in page.text
    send_email_code(client, uid)
    (code,) = emailed_codes(outbox)
    proven = submit_email_code(client, uid, code)
    assert proven.status_code == 303 and proven.headers["Location"].endswith("/enrol")
    assert client.get(f"/authorize/resume/{uid}").headers["Location"] == f"/interaction/{uid}"

    enrol = client.get(f"/interaction/{uid}/enrol")
    seed = secret_on(enrol.text)
    done = client.post(
        f"/interaction/{uid}/enrol/totp", data={"csrf_token": csrf_token(enrol.text), "code": totp_code(seed)}
    )
    assert done.status_code == 303  # recovery codes exist already: nothing more to show
    claims = id_token_claims(client, to_client(client, done), request)
    assert claims["acr"] == ACR_PASSWORD_AUTHENTICATOR


def test_without_proof_there_is_no_enrolment_past_an_existing_factor(app, client, make_client, make_member):
    make_client(public=True, client_id="strict-portal", required_acr=ACR_PASSWORD_AUTHENTICATOR)
    member, _ = member_with_email_factor(app, make_member)
    uid = to_challenge(client, AuthorizationRequest("strict-portal"), member)
    skipped = client.get(f"/interaction/{uid}/enrol")
    assert skipped.status_code == 303 and skipped.headers["Location"].endswith("/second-factor")
    token = csrf_token(client.get(f"/interaction/{uid}/email-code").text)
    posted = client.post(f"/interaction/{uid}/enrol/totp", data={"csrf_token": token, "code": "123456"})
    assert posted.status_code == 303 and posted.headers["Location"].endswith("/second-factor")


@pytest.mark.settings(security={"require_mfa": True})
def test_require_mfa_enrols_every_member_at_the_next_sign_in(client, rp, make_member, outbox):
    member = make_member()
    request = AuthorizationRequest(rp.client_id)
    uid = to_challenge(client, request, member)
    enrol = follow(client, client.get(f"/interaction/{uid}/second-factor"))
    assert 'data-testid="enrol-page"' in enrol.text and 'data-testid="enrol-email"' in enrol.text

    chosen = client.post(f"/interaction/{uid}/enrol/email", data={"csrf_token": csrf_token(enrol.text)})
    assert chosen.status_code == 200 and len(recovery_codes_on(chosen.text)) == 10
    send_email_code(client, uid)
    (code,) = emailed_codes(outbox)
    location = to_client(client, submit_email_code(client, uid, code))
    claims = id_token_claims(client, location, request)
    assert claims["acr"] == ACR_PASSWORD_EMAIL_CODE


@pytest.mark.settings(security={"require_mfa": True})
def test_require_mfa_asks_members_with_a_factor_as_usual(app, client, rp, make_member):
    member = make_member()
    give_totp(app, member)
    uid = to_challenge(client, AuthorizationRequest(rp.client_id), member)
    assert 'data-testid="totp-form"' in client.get(f"/interaction/{uid}/second-factor").text
