"""What a signed-in member changes on their own profile: contact details, language, email
address (only after the new address is verified) and password (only with the current one).

Every change is audited with the member, the request origin and the outcome, never a value
that is secret (passwords, links) and never the new contact values themselves.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from sqlalchemy.orm import Session

from idp.errors import IdpError, ValidationFailed
from idp.models import Member
from idp.security.passwords import MAX_PASSWORD_LENGTH, verify_password
from idp.services import audit, credentials, email_verification, lockout, notifications
from idp.services.audit import RequestOrigin
from idp.services.email_verification import PURPOSE_EMAIL_CHANGE
from idp.services.identifiers import normalize_email, normalize_phone
from idp.services.lockout import Guard, Verdict
from idp.services.members import SUPPORTED_LOCALES, check_password_acceptable
from idp.settings import LockoutSettings

MAX_ADDRESS_LENGTH = 500


class CurrentPasswordWrong(IdpError, status=400, message_id="current_password_wrong"):
    """The current password given to confirm an account change is wrong."""


class SameEmail(IdpError, status=400, message_id="email_unchanged"):
    """The new address is the member's address already."""


@dataclass(frozen=True)
class EmailChanged:
    member: Member
    old_email: str | None


# --- the current password, guarded by the lockout ----------------------------------------


PASSWORD_CHECK = Guard("password_check", on_lock_started=notifications.lock_started)


def verify_current_password(
    db: Session, member: Member, password: str, origin: RequestOrigin, policy: LockoutSettings
) -> None:
    """Check the member's current password as sign-in does: counted toward the account's
    lockout before the check (so a stolen session cannot guess it without limit), nothing
    checked while locked. Raises CurrentPasswordWrong or AccountLocked."""
    if len(password or "") > MAX_PASSWORD_LENGTH:
        raise CurrentPasswordWrong("too long")

    def check() -> Verdict:
        if verify_password(password or "", member.password_hash):
            return Verdict(ok=True, outcome=None)  # the change itself is what gets recorded
        return Verdict(ok=False, outcome="failure")

    if not lockout.guarded_check(db, PASSWORD_CHECK, lockout.member_subject(member), policy, origin, check).ok:
        raise CurrentPasswordWrong("wrong")


# --- contact details and language ---------------------------------------------------------


def clean_phone(raw: str | None) -> str | None:
    """E.164 (a national 08… number becomes +628…), or None when empty; ValidationFailed."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return normalize_phone(text)
    except ValueError:
        raise ValidationFailed("phone", "is not a phone number like +6281234567890") from None


def clean_address(raw: str | None) -> str | None:
    text = unicodedata.normalize("NFC", (raw or "").replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        return None
    if len(text) > MAX_ADDRESS_LENGTH:
        raise ValidationFailed("address", f"must be at most {MAX_ADDRESS_LENGTH} characters")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise ValidationFailed("address", "must not contain control characters")
    return text


def update_contact(
    db: Session, member: Member, raw_phone: str | None, raw_address: str | None, origin: RequestOrigin
) -> list[str]:
    """Store the phone and postal address; returns the names of the fields that changed."""
    phone = clean_phone(raw_phone)
    address = clean_address(raw_address)
    changed = []
    if phone != member.phone:
        member.phone = phone
        member.phone_verified = False
        changed.append("phone")
    if address != member.address:
        member.address = address
        changed.append("address")
    audit.record(
        db, "profile_updated", "success" if changed else "unchanged", origin, member_id=member.id, fields=changed
    )
    db.commit()
    return changed


# The zones of Indonesia a member may show times in (WIB, WITA, WIT).
TIME_ZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")


def set_time_zone(db: Session, member: Member, time_zone: str, origin: RequestOrigin) -> None:
    if time_zone not in TIME_ZONES:
        raise ValidationFailed("time_zone", f"must be one of {', '.join(TIME_ZONES)}")
    member.time_zone = time_zone
    audit.record(db, "time_zone_changed", "success", origin, member_id=member.id, time_zone=time_zone)
    db.commit()


def set_locale(db: Session, member: Member, locale: str, origin: RequestOrigin) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise ValidationFailed("locale", f"must be one of {', '.join(SUPPORTED_LOCALES)}")
    member.locale = locale
    audit.record(db, "locale_changed", "success", origin, member_id=member.id, locale=locale)
    db.commit()


# --- email change -------------------------------------------------------------------------


def request_email_change(
    db: Session,
    member: Member,
    raw_email: str,
    current_password: str,
    ttl_seconds: int,
    origin: RequestOrigin,
    policy: LockoutSettings,
) -> None:
    """Mail a link to the new address (voiding earlier ones); nothing changes until the link
    is confirmed. When the address belongs to another account, that address gets a notice
    instead, and the member the same answer. The member's current address is told either
    way (a security notice: never dropped by a mail budget)."""
    try:
        new_email = normalize_email(raw_email or "")
    except ValueError:
        raise ValidationFailed("email", "is not a valid email address") from None
    verify_current_password(db, member, current_password, origin, policy)
    if new_email == member.email:
        raise SameEmail("same address")
    email_verification.offer(db, member, PURPOSE_EMAIL_CHANGE, new_email, ttl_seconds, origin, "email_change_requested")
    if member.email:
        notifications.send_notice(
            notifications.email_change_notice(member, member.email, new_email, origin), member, "email_change"
        )


def pending_email_change(db: Session, member: Member) -> str | None:
    record = email_verification.pending(db, member.id, PURPOSE_EMAIL_CHANGE)
    return record.email if record is not None else None


def check_email_change_link(db: Session, token: str):
    return email_verification.check(db, token, PURPOSE_EMAIL_CHANGE)


def confirm_email_change(db: Session, token: str, origin: RequestOrigin) -> EmailChanged:
    """Use the link once and make its address the member's (verified) email. Uniqueness is
    checked again; reset links sent to the old address stop working, and so do remembered
    browsers (the security epoch)."""

    def forget_remembered_browsers(member: Member) -> None:
        member.security_epoch = (member.security_epoch or 0) + 1

    member, old_email = email_verification.use_for_address(
        db, token, PURPOSE_EMAIL_CHANGE, "email_changed", origin, forget_remembered_browsers
    )
    return EmailChanged(member=member, old_email=old_email)


# --- password change ----------------------------------------------------------------------


def change_password(
    db: Session,
    member: Member,
    current_password: str,
    new_password: str,
    min_length: int,
    keep_session_id: int | None,
    origin: RequestOrigin,
    policy: LockoutSettings,
) -> int:
    """Replace the password. The new one is checked against the policy first (no secret is
    spent on a refused one), then the current one under the lockout. Afterwards everything
    ``credentials.replace_password`` voids is void, but this browser's session
    (``keep_session_id``, which the caller rotates). One commit; then the notice. Returns how
    many other sessions were ended."""
    check_password_acceptable(new_password, member, min_length=min_length)
    verify_current_password(db, member, current_password, origin, policy)
    ended = credentials.replace_password(db, member, new_password, keep_session_id)
    audit.record(db, "password_changed", "success", origin, member_id=member.id, other_sessions_ended=ended)
    db.commit()
    credentials.password_changed_notice(member, origin)
    return ended
