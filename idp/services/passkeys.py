"""Passkeys (WebAuthn): the ceremonies' challenges, and what a registration or an assertion
means for the stored credential. The rules:

- the relying party is derived from the configured issuer (``relying_party``), never from a
  request: a passkey made for idp works only on idp's origin, so a fake page cannot use it;
- a challenge is random, stored as a digest, bound to one transaction (an interaction, or an
  account-page transaction of one session) and purpose, lives ``CHALLENGE_TTL_SECONDS``, is
  used once (a conditional UPDATE, before the answer is verified: one try per challenge) and
  a newer one for the same transaction and purpose voids it;
- an assertion is accepted only with a good signature from a passkey of the right member;
  its signature counter must grow when either count is non-zero, otherwise the passkey was
  copied (a cloned authenticator): refused and audited (``passkey_clone_suspected``);
- backup eligibility may never change; the backup state is stored as it goes;
- a passkey sign-in without a password needs user verification and the user handle given
  at registration.

Enrolment, removal and the lockout around the assertion checks are in
``idp.services.second_factor`` (a passkey is one more second factor).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import Member, Passkey, PasskeyChallenge, SecondFactor
from idp.models.passkeys import CHALLENGE_REGISTER, CHALLENGE_SECOND_FACTOR, CHALLENGE_SIGN_IN
from idp.security import webauthn
from idp.security.tokens import digest
from idp.security.webauthn import CeremonyFailed, RelyingParty, StoredCredential
from idp.services import audit
from idp.services.audit import RequestOrigin

CHALLENGE_TTL_SECONDS = 5 * 60
MAX_PASSKEYS = 10
LABEL_LENGTH = 100

# Re-exported: callers name the purposes and types through this module.
__all__ = [
    "CHALLENGE_REGISTER",
    "CHALLENGE_SECOND_FACTOR",
    "CHALLENGE_SIGN_IN",
    "CeremonyFailed",
    "RelyingParty",
]


def relying_party(issuer: str, name: str) -> RelyingParty:
    return RelyingParty.for_issuer(issuer, name)


# --- what a member has ------------------------------------------------------------------------


def passkeys_of(db: Session, member_id: int) -> list[Passkey]:
    return list(db.scalars(select(Passkey).where(Passkey.member_id == member_id).order_by(Passkey.id)))


def _stored(passkey: Passkey) -> StoredCredential:
    return StoredCredential(passkey.credential_id, passkey.public_key, tuple((passkey.transports or "").split()))


def user_handle_for(db: Session, member_id: int) -> str:
    """The member's WebAuthn user handle: the one their passkeys already carry, else a new
    random one (never the membership number or email: the handle is stored on the device)."""
    existing = db.scalar(select(Passkey.user_handle).where(Passkey.member_id == member_id).limit(1))
    return existing or webauthn.encode(webauthn.new_challenge())


# --- challenges -------------------------------------------------------------------------------


def issue_challenge(
    db: Session, purpose: str, transaction: str, member_id: int | None, user_handle: str | None = None
) -> bytes:
    """A fresh challenge for this transaction and purpose; older unused ones stop working."""
    now = utcnow()
    db.execute(
        delete(PasskeyChallenge).where(
            or_(
                PasskeyChallenge.expires_at <= now,
                (PasskeyChallenge.transaction == transaction) & (PasskeyChallenge.purpose == purpose),
            )
        )
    )
    challenge = webauthn.new_challenge()
    db.add(
        PasskeyChallenge(
            challenge_digest=digest(webauthn.encode(challenge)),
            purpose=purpose,
            transaction=transaction,
            member_id=member_id,
            user_handle=user_handle,
            created_at=now,
            expires_at=now + timedelta(seconds=CHALLENGE_TTL_SECONDS),
        )
    )
    db.commit()
    return challenge


@dataclass(frozen=True)
class _Consumed:
    challenge: bytes
    user_handle: str | None


def _consume_challenge(
    db: Session, response_json: str, ceremony: str, purpose: str, transaction: str, member_id: int | None
) -> _Consumed | None:
    """The challenge this answer signed, if it is live, of this transaction, purpose and member
    and not used before; it is used now, whatever the verification says."""
    challenge = webauthn.challenge_of(response_json, ceremony)
    challenge_digest = digest(webauthn.encode(challenge))
    now = utcnow()
    conditions = [
        PasskeyChallenge.challenge_digest == challenge_digest,
        PasskeyChallenge.purpose == purpose,
        PasskeyChallenge.transaction == transaction,
        PasskeyChallenge.used_at.is_(None),
        PasskeyChallenge.expires_at > now,
    ]
    if member_id is not None:
        conditions.append(PasskeyChallenge.member_id == member_id)
    used = db.execute(
        update(PasskeyChallenge).where(*conditions).values(used_at=now).execution_options(synchronize_session=False)
    )
    db.commit()
    if used.rowcount != 1:
        return None
    user_handle = db.scalar(
        select(PasskeyChallenge.user_handle).where(PasskeyChallenge.challenge_digest == challenge_digest)
    )
    return _Consumed(challenge, user_handle)


# --- registration -----------------------------------------------------------------------------


def registration_options(db: Session, member: Member, rp: RelyingParty, transaction: str) -> str:
    user_handle = user_handle_for(db, member.id)
    challenge = issue_challenge(db, CHALLENGE_REGISTER, transaction, member.id, user_handle)
    return webauthn.registration_options(
        rp,
        user_handle=webauthn.decode(user_handle),
        user_name=member.email or member.membership_number,
        display_name=member.full_name or member.membership_number,
        challenge=challenge,
        existing=[_stored(passkey) for passkey in passkeys_of(db, member.id)],
    )


def verify_new_passkey(db: Session, member: Member, rp: RelyingParty, transaction: str, response_json: str) -> Passkey:
    """Check a ``create()`` answer against this transaction's challenge; the row to store beside
    the passkey's SecondFactor (its ``factor_id`` set by the caller). Raises CeremonyFailed."""
    consumed = _consume_challenge(db, response_json, "webauthn.create", CHALLENGE_REGISTER, transaction, member.id)
    if consumed is None or consumed.user_handle is None:
        raise CeremonyFailed("no live challenge for this transaction")
    registered = webauthn.verify_registration(rp, response_json, consumed.challenge)
    if db.scalar(select(Passkey.id).where(Passkey.credential_id == registered.credential_id)) is not None:
        raise CeremonyFailed("credential already registered")
    return Passkey(
        member_id=member.id,
        credential_id=registered.credential_id,
        public_key=registered.public_key,
        user_handle=consumed.user_handle,
        sign_count=registered.sign_count,
        backup_eligible=registered.backup_eligible,
        backup_state=registered.backup_state,
        user_verified=registered.user_verified,
        transports=" ".join(registered.transports) or None,
        aaguid=registered.aaguid,
        created_at=utcnow(),
    )


# --- assertions -------------------------------------------------------------------------------


def authentication_options(
    db: Session, rp: RelyingParty, purpose: str, transaction: str, member: Member | None = None
) -> str:
    """``get()`` options: for a second factor, only ``member``'s passkeys; for a sign-in without
    a password (``member`` None), any discoverable passkey, with user verification."""
    challenge = issue_challenge(db, purpose, transaction, member.id if member is not None else None)
    allowed = [_stored(passkey) for passkey in passkeys_of(db, member.id)] if member is not None else []
    return webauthn.authentication_options(rp, challenge, allowed, user_verification_required=member is None)


@dataclass(frozen=True)
class Assertion:
    ok: bool
    passkey: Passkey | None = None
    # Why not, for the audit trail: "unknown", "challenge", "invalid", "user_handle",
    # "backup_flags", "cloned".
    reason: str | None = None


def find_passkey(db: Session, response_json: str, member_id: int | None) -> Passkey | None:
    """The stored passkey an assertion names (of ``member_id`` when given); None if unknown."""
    try:
        credential_id = webauthn.credential_id_of(response_json)
    except CeremonyFailed:
        return None
    query = select(Passkey).where(Passkey.credential_id == credential_id)
    if member_id is not None:
        query = query.where(Passkey.member_id == member_id)
    return db.scalar(query)


def verify_assertion(
    db: Session,
    passkey: Passkey,
    rp: RelyingParty,
    response_json: str,
    purpose: str,
    transaction: str,
    origin: RequestOrigin | None,
) -> Assertion:
    """Check a ``get()`` answer from ``passkey`` (see the module docstring); on success the
    counter, backup state and last use are stored."""
    passwordless = purpose == CHALLENGE_SIGN_IN
    member_id = None if passwordless else passkey.member_id
    try:
        consumed = _consume_challenge(db, response_json, "webauthn.get", purpose, transaction, member_id)
        if consumed is None:
            return Assertion(False, passkey, "challenge")
        asserted = webauthn.verify_assertion(
            rp, response_json, consumed.challenge, _stored(passkey), user_verification_required=passwordless
        )
    except CeremonyFailed:
        return Assertion(False, passkey, "invalid")
    # Without a password the handle is what says whose passkey it is: it must be there.
    if (passwordless or asserted.user_handle is not None) and asserted.user_handle != passkey.user_handle:
        return Assertion(False, passkey, "user_handle")
    if asserted.backup_eligible != passkey.backup_eligible:
        return Assertion(False, passkey, "backup_flags")
    stored = passkey.sign_count
    counted = asserted.sign_count
    if (counted > 0 or stored > 0) and counted <= stored:
        return _clone_suspected(db, passkey, stored, counted, origin)
    now = utcnow()
    claimed = db.execute(
        update(Passkey)
        .where(Passkey.id == passkey.id, Passkey.sign_count == stored)
        .values(sign_count=counted, backup_state=asserted.backup_state)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        # Another answer with a count at least as high won the race: this one is a replay.
        db.commit()
        return _clone_suspected(db, passkey, stored, counted, origin)
    db.execute(
        update(SecondFactor)
        .where(SecondFactor.id == passkey.factor_id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.commit()
    db.refresh(passkey)
    return Assertion(True, passkey)


def _clone_suspected(db: Session, passkey: Passkey, stored: int, counted: int, origin) -> Assertion:
    audit.record(
        db,
        "passkey_clone_suspected",
        "refused",
        origin,
        member_id=passkey.member_id,
        factor_id=passkey.factor_id,
        stored_count=stored,
        asserted_count=counted,
    )
    db.commit()
    return Assertion(False, passkey, "cloned")
