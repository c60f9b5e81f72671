"""The framework-free pieces of the second factor: TOTP, recovery codes, acr levels."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pyotp
import pytest

from idp.oauth.acr import UnmetAuthenticationRequirementsError, requested_acr
from idp.security import totp
from idp.security.tokens import (
    RECOVERY_CODE_ALPHABET,
    normalize_recovery_code,
    random_recovery_code,
)
from idp.services.assurance import (
    ACR_PASSWORD,
    ACR_PASSWORD_AUTHENTICATOR,
    ACR_PASSWORD_EMAIL_CODE,
)
from idp.services.assurance import satisfies as acr_satisfies
from idp.services.assurance import stronger as stronger_acr

MOMENT = datetime(2026, 11, 24, 10, 0, 15, tzinfo=UTC)


def test_seeds_have_160_bits_and_differ():
    seeds = {totp.new_seed() for _ in range(20)}
    assert len(seeds) == 20
    assert all(len(seed) * 5 >= 160 for seed in seeds)


def test_verify_returns_the_matched_step_within_one_step():
    seed = totp.new_seed()
    app = pyotp.TOTP(seed)
    step = totp.time_step(MOMENT)
    assert totp.verify(seed, app.at(MOMENT), now=MOMENT) == step
    assert totp.verify(seed, app.at(MOMENT.timestamp() - 30), now=MOMENT) == step - 1
    assert totp.verify(seed, app.at(MOMENT.timestamp() + 30), now=MOMENT) == step + 1
    assert totp.verify(seed, app.at(MOMENT.timestamp() + 60), now=MOMENT) is None
    assert totp.verify(seed, " ".join([app.at(MOMENT)[:3], app.at(MOMENT)[3:]]), now=MOMENT) == step


@pytest.mark.parametrize("code", [None, "", "12345", "1234567", "abcdef", "12345\x00"])
def test_verify_refuses_what_is_not_a_code(code):
    assert totp.verify(totp.new_seed(), code, now=MOMENT) is None


def test_provisioning_uri_names_the_issuer():
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "siti@example.test", "Member sign-in")
    assert uri.startswith("otpauth://totp/Member%20sign-in:siti%40example.test?")
    assert "issuer=Member%20sign-in" in uri and "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri


def test_recovery_codes_have_at_least_50_bits_and_normalize():
    assert 12 * math.log2(len(RECOVERY_CODE_ALPHABET)) >= 50
    code = random_recovery_code()
    assert normalize_recovery_code(code.upper().replace("-", " ")) == code
    assert normalize_recovery_code("0000-1111-iiii") is None
    assert normalize_recovery_code("abcd-efgh") is None


def test_acr_levels_are_ordered():
    assert acr_satisfies(ACR_PASSWORD_AUTHENTICATOR, ACR_PASSWORD_EMAIL_CODE)
    assert acr_satisfies(ACR_PASSWORD_EMAIL_CODE, ACR_PASSWORD)
    assert not acr_satisfies(ACR_PASSWORD_EMAIL_CODE, ACR_PASSWORD_AUTHENTICATOR)
    assert not acr_satisfies(ACR_PASSWORD_AUTHENTICATOR, "urn:example:unknown")
    assert acr_satisfies(None, None)
    assert stronger_acr(ACR_PASSWORD, ACR_PASSWORD_AUTHENTICATOR) == ACR_PASSWORD_AUTHENTICATOR


def test_requested_acr_combines_the_sources():
    voluntary = requested_acr({"acr_values": f"urn:x {ACR_PASSWORD_EMAIL_CODE} {ACR_PASSWORD_AUTHENTICATOR}"}, None)
    assert (voluntary.target, voluntary.floor) == (ACR_PASSWORD_EMAIL_CODE, None)
    registered = requested_acr({"acr_values": ACR_PASSWORD}, ACR_PASSWORD_AUTHENTICATOR)
    assert (registered.target, registered.floor) == (ACR_PASSWORD_AUTHENTICATOR, ACR_PASSWORD_AUTHENTICATOR)
    essential = requested_acr(
        {
            "claims": f'{{"id_token": {{"acr": {{"essential": true, "values": ["{ACR_PASSWORD_AUTHENTICATOR}", "{ACR_PASSWORD_EMAIL_CODE}"]}}}}}}'
        },
        None,
    )
    assert (essential.target, essential.floor) == (ACR_PASSWORD_EMAIL_CODE, ACR_PASSWORD_EMAIL_CODE)
    with pytest.raises(UnmetAuthenticationRequirementsError):
        requested_acr({"claims": '{"id_token": {"acr": {"essential": true, "value": "urn:x"}}}'}, None)
