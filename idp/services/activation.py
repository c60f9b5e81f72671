"""Self-activation: a member with a membership record but no online account creates one.

1. ``verify_record``: membership number, NIK and birth date must all match the record.
   Every mismatch — a wrong NIK, a wrong birth date, an unknown membership number — is the
   same ``ActivationMismatch`` after the same work (the comparisons run against dummy values
   when there is no record), and counts toward the lockout exactly like a wrong password:
   per account when the number names a record, per typed number otherwise, reserved before
   the comparison. A record whose account is already active gets ``AlreadyActive``, which
   only someone who knows all three values can see.
2. ``start_account``: the member chooses an email and a password. The password is stored
   with ``activation_pending`` set, so the account cannot sign in yet; the address is kept
   on the verification link only (not on the member) until the member opens that link, so
   an unverified activation can never occupy an address that belongs to someone else.
3. ``complete``: the link's confirm button sets the verified address and ends
   ``activation_pending``. Nothing signs the member in: they sign in as usual.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.errors import IdpError, ValidationFailed
from idp.models import EmailVerificationToken, Member
from idp.security.passwords import hash_password
from idp.security.tokens import constant_time_equals
from idp.services import audit, email_verification, lockout, notifications
from idp.services.audit import RequestOrigin
from idp.services.email_verification import (
    PURPOSE_ACTIVATION,
    VerificationLinkUnusable,
)
from idp.services.identifiers import normalize_email, normalize_identifier
from idp.services.lockout import Guard, Verdict
from idp.services.members import check_password_acceptable
from idp.settings import LockoutSettings

# How long the verified record stays usable for the second step, in this browser only.
STEP_TTL_SECONDS = 900

# Compared against when the number names no record, so that the work is the same.
_DUMMY_NIK = "0000000000000000"
_DUMMY_BIRTH_DATE = "0001-01-01"
_NIK_SEPARATORS = re.compile(r"[\s\-.]")


class ActivationMismatch(IdpError, status=400, message_id="activation_mismatch"):
    """The three values do not name a record: one answer for every way of being wrong."""


class AlreadyActive(IdpError, status=409, message_id="activation_already_active"):
    """The record already has an online account: sign in, or reset the password."""


class ActivationPending(IdpError, status=409, message_id="activation_pending"):
    """An activation of this record waits for its email link: it is not replaced (another
    address, another password) until that link is used or has expired. Only someone who
    knows all three values sees this; the pending address is told of the attempt."""

    def __init__(self, link: EmailVerificationToken) -> None:
        super().__init__("pending")
        self.expires_at = link.expires_at
        self.masked_address = notifications.mask_email(link.email)


def pending_link(db: Session, member: Member) -> EmailVerificationToken | None:
    """The live activation link of a pending account (unused, not voided, not expired)."""
    if not member.activation_pending:
        return None
    return db.scalar(
        select(EmailVerificationToken)
        .where(
            EmailVerificationToken.member_id == member.id,
            EmailVerificationToken.purpose == PURPOSE_ACTIVATION,
            EmailVerificationToken.used_at.is_(None),
            EmailVerificationToken.voided_at.is_(None),
            EmailVerificationToken.expires_at > utcnow(),
        )
        .order_by(EmailVerificationToken.id.desc())
        .limit(1)
    )


def _refuse_replacing(db: Session, member: Member, link: EmailVerificationToken, origin: RequestOrigin):
    """Tell the pending address someone tried to activate the record again, and refuse."""
    audit.record(db, "activation_check", "pending_kept", origin, member_id=member.id)
    db.commit()
    notifications.send(notifications.activation_retried(member, link.email, link.expires_at, origin))
    return ActivationPending(link)


def normalize_nik(raw: str) -> str:
    return _NIK_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or "").strip())


RECORD_CHECK = Guard("activation_check", on_lock_started=notifications.lock_started)


def verify_record(
    db: Session,
    raw_membership_number: str,
    raw_nik: str,
    birth_date: date,
    origin: RequestOrigin,
    policy: LockoutSettings,
) -> Member:
    """The member whose record matches all three values and who has no active account.

    Raises ActivationMismatch (any mismatch, or no such record), AccountLocked (before the
    comparison while locked; or when this failure starts a lock) or AlreadyActive."""
    identifier = normalize_identifier(raw_membership_number or "")
    member = None
    if identifier.kind == "membership_number":
        member = db.scalar(select(Member).where(Member.membership_number == identifier.value))

    def check() -> Verdict:
        # Both comparisons always run, in constant time, against dummies when there is no record.
        nik_matches = constant_time_equals(normalize_nik(raw_nik), member.nik if member is not None else _DUMMY_NIK)
        birth_matches = constant_time_equals(
            birth_date.isoformat(), member.birth_date.isoformat() if member is not None else _DUMMY_BIRTH_DATE
        )
        if member is None or not (nik_matches & birth_matches):
            return Verdict(ok=False, outcome="mismatch")
        if member.can_sign_in:
            # Counted like a failure (it is no activation, and must not clear the account's
            # sign-in failures), so repeating it cannot be used to probe without limit.
            return Verdict(ok=False, outcome="already_active")
        if pending_link(db, member) is not None:
            # Counted like a failure too: the pending activation is not someone else's to redo.
            return Verdict(ok=False, outcome="pending")
        return Verdict(ok=True, outcome="verified")

    verdict = lockout.guarded_check(db, RECORD_CHECK, lockout.subject_of(member, identifier), policy, origin, check)
    if verdict.outcome == "already_active":
        raise AlreadyActive("already active")
    if verdict.outcome == "pending":
        raise _refuse_replacing(db, member, pending_link(db, member), origin)
    if not verdict.ok:
        raise ActivationMismatch("mismatch")
    return member


def start_account(
    db: Session,
    member_id: int,
    raw_email: str,
    password: str,
    min_length: int,
    ttl_seconds: int,
    origin: RequestOrigin,
) -> Member:
    """Set the password (account still pending) and queue the verification link for the
    address (voiding earlier links). Raises ValidationFailed / InvalidPassword for bad input,
    AlreadyActive when the account became active meanwhile."""
    member = db.get(Member, member_id)
    if member is None or member.can_sign_in:
        raise AlreadyActive("already active")
    # A record checked in this browser before someone else's step 2: still not theirs to redo.
    live = pending_link(db, member)
    if live is not None:
        raise _refuse_replacing(db, member, live, origin)
    try:
        email = normalize_email(raw_email or "")
    except ValueError:
        raise ValidationFailed("email", "is not a valid email address") from None
    check_password_acceptable(password, member, min_length=min_length, extra_identifiers=(email,))

    member.password_hash = hash_password(password)
    member.activation_pending = True
    # The same answer on the page; the address's owner gets a notice instead of a link.
    email_verification.offer(db, member, PURPOSE_ACTIVATION, email, ttl_seconds, origin, "activation_account")
    return member


def resend(db: Session, member_id: int, ttl_seconds: int, origin: RequestOrigin) -> None:
    """Mail a fresh link (voiding the older ones) to the address of the member's latest
    activation link, while the account is still pending; otherwise nothing (the page answers
    the same)."""
    member = db.get(Member, member_id)
    if member is None or not member.activation_pending:
        return None
    latest = db.scalar(
        select(EmailVerificationToken)
        .where(EmailVerificationToken.member_id == member.id, EmailVerificationToken.purpose == PURPOSE_ACTIVATION)
        .order_by(EmailVerificationToken.created_at.desc(), EmailVerificationToken.id.desc())
        .limit(1)
    )
    if latest is None:
        return None
    email_verification.offer(
        db, member, PURPOSE_ACTIVATION, latest.email, ttl_seconds, origin, "activation_link_resent"
    )


def check_link(db: Session, token: str) -> EmailVerificationToken:
    """For the confirm page: the live link, or VerificationLinkUnusable. Consumes nothing."""
    record = email_verification.check(db, token, PURPOSE_ACTIVATION)
    member = db.get(Member, record.member_id)
    if member is None or not member.activation_pending:
        raise VerificationLinkUnusable("not pending")
    return record


def complete(db: Session, token: str, origin: RequestOrigin) -> Member:
    """Use the link once: the address becomes the member's verified email and the account
    can sign in. Reset links sent to any earlier address stop working."""
    check_link(db, token)

    def activate(member: Member) -> None:
        member.activation_pending = False

    member, _ = email_verification.use_for_address(
        db, token, PURPOSE_ACTIVATION, "activation_completed", origin, activate
    )
    return member
