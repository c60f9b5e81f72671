"""WebAuthn (passkeys): the only module that imports py_webauthn (``webauthn`` on PyPI).

Framework-free: the relying party (id and origin, derived from the configured issuer by the
caller, never from a request's Host header), the challenge and the stored credential come in
as plain values; options go out as the base64url JSON the browser's script turns into
``navigator.credentials.create()`` / ``get()`` arguments, and a verified ceremony comes back
as a small dataclass. What is *stored* and what a result *means* (counters, clones, backup
flags, who the credential belongs to) is decided by ``idp.services.passkeys``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_attestation_object,
    parse_authenticator_data,
)
from webauthn.helpers.exceptions import InvalidJSONStructure, WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

# 32 random bytes: well above the 16 the specification asks for.
CHALLENGE_BYTES = 32
# How long the browser waits for the member (the challenge itself lives as long, see
# services/passkeys.CHALLENGE_TTL_SECONDS).
TIMEOUT_MS = 5 * 60 * 1000
_KNOWN_TRANSPORTS = {transport.value for transport in AuthenticatorTransport}


class CeremonyFailed(Exception):
    """The browser's answer does not verify (wrong origin, RP id, challenge, signature, flags,
    or it is malformed). The message says why, for the audit trail (never shown to members)."""


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for. ``id`` is the issuer's host name (a passkey works on that host
    and its subdomains), ``origin`` the issuer's scheme, host and port: the only origin whose
    ceremonies are accepted."""

    id: str
    origin: str
    name: str

    @classmethod
    def for_issuer(cls, issuer: str, name: str) -> RelyingParty:
        parts = urlsplit(issuer)
        return cls(id=parts.hostname or "", origin=f"{parts.scheme}://{parts.netloc}", name=name)


@dataclass(frozen=True)
class StoredCredential:
    """What a verification needs of a stored passkey."""

    credential_id: str  # base64url
    public_key: bytes  # COSE
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registered:
    credential_id: str  # base64url
    public_key: bytes
    sign_count: int
    aaguid: str
    user_verified: bool
    backup_eligible: bool
    backup_state: bool
    transports: tuple[str, ...]


@dataclass(frozen=True)
class Asserted:
    credential_id: str  # base64url
    sign_count: int
    user_verified: bool
    backup_eligible: bool
    backup_state: bool
    user_handle: str | None  # base64url, when the authenticator returned one


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def registration_options(
    rp: RelyingParty,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    existing: list[StoredCredential],
) -> str:
    """``create()`` options: a discoverable credential is asked for (so it also signs in without
    a password), user verification preferred, no attestation (idp trusts no vendor list), and
    the member's passkeys already registered excluded (one per authenticator)."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(credential) for credential in existing],
    )
    return options_to_json(options)


def authentication_options(
    rp: RelyingParty, challenge: bytes, allowed: list[StoredCredential], user_verification_required: bool
) -> str:
    """``get()`` options: with ``allowed`` empty, any discoverable passkey for this RP may answer
    (passwordless); otherwise only the member's own (second factor)."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=[_descriptor(credential) for credential in allowed],
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if user_verification_required
            else UserVerificationRequirement.PREFERRED
        ),
    )
    return options_to_json(options)


def challenge_of(response_json: str, expected_type: str) -> bytes:
    """The challenge the browser signed over, read (unverified) from ``clientDataJSON``: to find
    the stored challenge it answers. ``expected_type``: "webauthn.create" or "webauthn.get"."""
    try:
        response = json.loads(response_json)["response"]
        client_data = json.loads(base64url_to_bytes(response["clientDataJSON"]))
        if client_data.get("type") != expected_type:
            raise CeremonyFailed(f"client data type {client_data.get('type')!r}")
        return base64url_to_bytes(client_data["challenge"])
    except CeremonyFailed:
        raise
    except (ValueError, KeyError, TypeError) as error:
        raise CeremonyFailed("malformed response") from error


def credential_id_of(response_json: str) -> str:
    """The credential id an assertion names (unverified: to find the stored passkey)."""
    try:
        credential_id = json.loads(response_json)["id"]
    except (ValueError, KeyError, TypeError) as error:
        raise CeremonyFailed("malformed response") from error
    if not isinstance(credential_id, str) or not credential_id or len(credential_id) > 1400:
        raise CeremonyFailed("malformed credential id")
    return credential_id


def verify_registration(rp: RelyingParty, response_json: str, challenge: bytes) -> Registered:
    try:
        verified = verify_registration_response(
            credential=response_json,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_presence=True,
        )
        flags = parse_attestation_object(verified.attestation_object).auth_data.flags
        transports = _transports(response_json)
    except (WebAuthnException, InvalidJSONStructure, ValueError, KeyError, TypeError) as error:
        raise CeremonyFailed(str(error)[:200]) from error
    return Registered(
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        user_verified=verified.user_verified,
        backup_eligible=flags.be,
        backup_state=flags.bs,
        transports=transports,
    )


def verify_assertion(
    rp: RelyingParty,
    response_json: str,
    challenge: bytes,
    credential: StoredCredential,
    user_verification_required: bool,
) -> Asserted:
    """Check origin, RP id, challenge, user presence (and verification when required) and the
    signature. The sign counter is *not* judged here (a current count of 0 is passed): the
    caller compares it with the stored one after the signature is known to be good, so a
    forged answer can never pass for a cloned authenticator."""
    try:
        verified = verify_authentication_response(
            credential=response_json,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=credential.public_key,
            credential_current_sign_count=0,
            require_user_verification=user_verification_required,
        )
        parsed = json.loads(response_json)
        authenticator_data = base64url_to_bytes(parsed["response"]["authenticatorData"])
        flags = parse_authenticator_data(authenticator_data).flags
        user_handle = parsed["response"].get("userHandle") or None
    except (WebAuthnException, InvalidJSONStructure, ValueError, KeyError, TypeError) as error:
        raise CeremonyFailed(str(error)[:200]) from error
    if bytes_to_base64url(verified.credential_id) != credential.credential_id:
        raise CeremonyFailed("another credential answered")
    return Asserted(
        credential_id=credential.credential_id,
        sign_count=verified.new_sign_count,
        user_verified=verified.user_verified,
        backup_eligible=flags.be,
        backup_state=flags.bs,
        user_handle=user_handle if isinstance(user_handle, str) else None,
    )


def encode(raw: bytes) -> str:
    return bytes_to_base64url(raw)


def decode(text: str) -> bytes:
    return base64url_to_bytes(text)


def _descriptor(credential: StoredCredential) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in credential.transports if t in _KNOWN_TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential.credential_id), transports=transports or None)


def _transports(response_json: str) -> tuple[str, ...]:
    response = json.loads(response_json).get("response", {})
    listed = response.get("transports") or []
    return tuple(t for t in listed if isinstance(t, str) and t in _KNOWN_TRANSPORTS)[:8]
