"""WebAuthn verification (idp.security.webauthn) against fixed vectors: a registration and two
assertions made once by a P-256 key and committed (tests/unit/data/passkey_vectors.json), so
what is checked does not move with the test's own authenticator. Each refusal is one field
of the ceremony that a phishing page, a replay or a tampered answer would get wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idp.security import webauthn
from idp.security.webauthn import CeremonyFailed, RelyingParty, StoredCredential
from tests.helpers.webauthn import SoftAuthenticator

VECTORS = json.loads((Path(__file__).parent / "data" / "passkey_vectors.json").read_text())
RP = RelyingParty(id=VECTORS["rp_id"], origin=VECTORS["origin"], name="Example")
REGISTRATION = json.dumps(VECTORS["registration"])
ASSERTION = json.dumps(VECTORS["assertion"])
REGISTRATION_CHALLENGE = webauthn.decode(VECTORS["registration_challenge"])
AUTHENTICATION_CHALLENGE = webauthn.decode(VECTORS["authentication_challenge"])
CREDENTIAL_ID = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"


def stored() -> StoredCredential:
    registered = webauthn.verify_registration(RP, REGISTRATION, REGISTRATION_CHALLENGE)
    return StoredCredential(registered.credential_id, registered.public_key, registered.transports)


def test_the_registration_verifies_and_says_what_is_stored():
    registered = webauthn.verify_registration(RP, REGISTRATION, REGISTRATION_CHALLENGE)
    assert registered.credential_id == CREDENTIAL_ID
    assert registered.sign_count == 0
    assert registered.user_verified is True
    assert (registered.backup_eligible, registered.backup_state) == (True, True)
    assert registered.transports == ("internal",)
    assert registered.aaguid == "00000000-0000-0000-0000-000000000000"
    assert webauthn.challenge_of(REGISTRATION, "webauthn.create") == REGISTRATION_CHALLENGE


@pytest.mark.parametrize(
    "rp",
    [
        RelyingParty(id=VECTORS["rp_id"], origin="https://login.example.id.phish.test", name="x"),
        RelyingParty(id=VECTORS["rp_id"], origin="http://login.example.id", name="x"),
        RelyingParty(id="example.id", origin=VECTORS["origin"], name="x"),
    ],
    ids=["another origin", "another scheme", "another rp id"],
)
def test_a_registration_for_another_origin_or_rp_id_is_refused(rp):
    with pytest.raises(CeremonyFailed):
        webauthn.verify_registration(rp, REGISTRATION, REGISTRATION_CHALLENGE)


def test_a_registration_answering_another_challenge_is_refused():
    with pytest.raises(CeremonyFailed):
        webauthn.verify_registration(RP, REGISTRATION, AUTHENTICATION_CHALLENGE)


def test_the_assertion_verifies_with_user_verification():
    asserted = webauthn.verify_assertion(RP, ASSERTION, AUTHENTICATION_CHALLENGE, stored(), True)
    assert asserted.credential_id == CREDENTIAL_ID
    assert asserted.sign_count == 1
    assert asserted.user_verified is True
    assert (asserted.backup_eligible, asserted.backup_state) == (True, True)
    assert asserted.user_handle == VECTORS["user_handle"]
    assert webauthn.credential_id_of(ASSERTION) == CREDENTIAL_ID


def test_an_assertion_without_user_verification_passes_only_where_it_is_not_required():
    answer = json.dumps(VECTORS["assertion_without_user_verification"])
    asserted = webauthn.verify_assertion(RP, answer, AUTHENTICATION_CHALLENGE, stored(), False)
    assert asserted.user_verified is False and asserted.sign_count == 2
    with pytest.raises(CeremonyFailed):
        webauthn.verify_assertion(RP, answer, AUTHENTICATION_CHALLENGE, stored(), True)


@pytest.mark.parametrize(
    "rp",
    [
        RelyingParty(id=VECTORS["rp_id"], origin="https://evil.example", name="x"),
        RelyingParty(id="evil.example", origin="https://evil.example", name="x"),
    ],
    ids=["another origin", "another rp id"],
)
def test_an_assertion_for_another_origin_or_rp_id_is_refused(rp):
    with pytest.raises(CeremonyFailed):
        webauthn.verify_assertion(rp, ASSERTION, AUTHENTICATION_CHALLENGE, stored(), False)


def test_an_assertion_answering_another_challenge_is_refused():
    with pytest.raises(CeremonyFailed):
        webauthn.verify_assertion(RP, ASSERTION, REGISTRATION_CHALLENGE, stored(), False)


def test_a_tampered_assertion_is_refused():
    tampered = json.loads(ASSERTION)
    data = bytearray(webauthn.decode(tampered["response"]["authenticatorData"]))
    data[-1] ^= 0x01  # another signature count, same signature
    tampered["response"]["authenticatorData"] = webauthn.encode(bytes(data))
    with pytest.raises(CeremonyFailed):
        webauthn.verify_assertion(RP, json.dumps(tampered), AUTHENTICATION_CHALLENGE, stored(), False)


def test_an_assertion_checked_against_another_key_is_refused():
    other = StoredCredential(CREDENTIAL_ID, SoftAuthenticator(VECTORS["origin"]).cose_key())
    with pytest.raises(CeremonyFailed, match="signature"):
        webauthn.verify_assertion(RP, ASSERTION, AUTHENTICATION_CHALLENGE, other, False)


def test_a_registration_answer_is_not_an_assertion():
    with pytest.raises(CeremonyFailed):
        webauthn.challenge_of(REGISTRATION, "webauthn.get")
    with pytest.raises(CeremonyFailed):
        webauthn.challenge_of("not json", "webauthn.get")


def test_the_relying_party_comes_from_the_issuer():
    rp = RelyingParty.for_issuer("https://login.example.id", "Example")
    assert (rp.id, rp.origin) == ("login.example.id", "https://login.example.id")
    local = RelyingParty.for_issuer("http://localhost:5000", "Example")
    assert (local.id, local.origin) == ("localhost", "http://localhost:5000")
    options = json.loads(webauthn.authentication_options(rp, b"0" * 32, [], user_verification_required=True))
    assert options["rpId"] == "login.example.id" and options["userVerification"] == "required"
    assert options["allowCredentials"] == []
