"""A software WebAuthn authenticator for the HTTP-level tests: it answers the options idp
sends as a browser with a platform passkey would (ES256 key from ``cryptography``, "none"
attestation, the client data the browser would write for ``origin``). Each knob is a way
a real authenticator, or an attacker, may behave differently.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers.oidc import AuthorizationRequest, csrf_token
from tests.helpers.second_factor import interaction_of, recovery_codes_on, sign_in_to_account

# The tests' issuer (tests/conftest.py): the origin a passkey is made for.
ISSUER = "http://idp.test"

FLAG_UP, FLAG_UV, FLAG_BE, FLAG_BS, FLAG_AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    origin: str
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0
    # How many the counter grows per assertion (0: an authenticator without a counter).
    count_step: int = 1
    user_verifying: bool = True
    backup_eligible: bool = False
    backed_up: bool = False
    user_handle: str | None = None  # set by create() from the options

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _flags(self, attested: bool = False) -> int:
        flags = FLAG_UP
        if self.user_verifying:
            flags |= FLAG_UV
        if self.backup_eligible:
            flags |= FLAG_BE
        if self.backed_up:
            flags |= FLAG_BS
        if attested:
            flags |= FLAG_AT
        return flags

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def create(self, options_json: str, origin: str | None = None) -> str:
        """The ``create()`` answer, as static/passkeys.js posts it."""
        options = json.loads(options_json)
        self.user_handle = options["user"]["id"]
        auth_data = (
            hashlib.sha256(options["rp"]["id"].encode()).digest()
            + bytes([self._flags(attested=True)])
            + struct.pack(">I", self.sign_count)
            + bytes(16)  # AAGUID: none
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self.cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation),
                    "transports": ["internal"],
                },
            }
        )

    def get(self, options_json: str, origin: str | None = None, rp_id: str | None = None) -> str:
        """The ``get()`` answer: signed over the authenticator data and the client data."""
        options = json.loads(options_json)
        allowed = [item["id"] for item in options.get("allowCredentials") or []]
        assert not allowed or b64url(self.credential_id) in allowed, "this passkey was not asked for"
        self.sign_count += self.count_step
        auth_data = (
            hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
            + bytes([self._flags()])
            + struct.pack(">I", self.sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": self.user_handle,
                },
            }
        )


# --- the member's browser, as static/passkeys.js drives it ----------------------------------


def options(client, path: str, page_text: str):
    response = client.post(path, headers={"X-CSRFToken": csrf_token(page_text), "Accept": "application/json"})
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def add_passkey(client, authenticator: SoftAuthenticator, label: str = "my phone", origin: str | None = None):
    """The Security page's "Add a passkey", as static/passkeys.js does it."""
    page = client.get("/account/security/passkey")
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    answer = authenticator.create(options(client, "/account/security/passkey/options", page.text), origin=origin)
    return client.post(
        "/account/security/passkey", data={"csrf_token": csrf_token(page.text), "code": answer, "label": label}
    )


def member_with_passkey(app, make_member, **fields):
    member = make_member(**fields)
    browser = app.test_client()
    sign_in_to_account(browser, member)
    authenticator = SoftAuthenticator(ISSUER)
    done = add_passkey(browser, authenticator)
    assert done.status_code == 200 and recovery_codes_on(done.text), done.text[:500]
    return member, authenticator, recovery_codes_on(done.text)


def answer_second_factor(client, uid: str, authenticator: SoftAuthenticator, **options_for_get):
    page = client.get(f"/interaction/{uid}/passkey")
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    answer = authenticator.get(options(client, f"/interaction/{uid}/passkey/options", page.text), **options_for_get)
    return client.post(f"/interaction/{uid}/passkey", data={"csrf_token": csrf_token(page.text), "code": answer})


def passwordless(client, request: AuthorizationRequest, authenticator: SoftAuthenticator, **options_for_get):
    started = client.get(request.url())
    uid = interaction_of(started.headers["Location"])
    page = client.get(f"/interaction/{uid}")
    assert 'data-testid="passkey-sign-in-form"' in page.text
    assert 'autocomplete="username webauthn"' in page.text
    answer = authenticator.get(
        options(client, f"/interaction/{uid}/passkey-sign-in/options", page.text), **options_for_get
    )
    return client.post(
        f"/interaction/{uid}/passkey-sign-in", data={"csrf_token": csrf_token(page.text), "code": answer}
    )
