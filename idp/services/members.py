"""Creating and finding members."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.errors import ValidationFailed
from idp.models import Member
from idp.security.password_policy import PasswordRejected, check_password
from idp.security.passwords import MAX_PASSWORD_LENGTH, hash_password
from idp.security.tokens import random_token
from idp.services.identifiers import (
    MEMBERSHIP_NUMBER_PATTERN,
    NIK_PATTERN,
    Identifier,
    normalize_email,
    normalize_identifier,
)
from idp.settings import PasswordSettings

SUPPORTED_LOCALES = ("id", "en")
MIN_PASSWORD_LENGTH = 12


@dataclass(frozen=True)
class NewMember:
    membership_number: str
    nik: str
    full_name: str
    birth_date: date
    email: str | None = None
    phone: str | None = None
    locale: str = "id"
    email_verified: bool = False


# Prebuilt (see idp.db): each sign-in looks its member up by what was typed.
_MEMBER_BY_EMAIL = select(Member).where(Member.email == bindparam("value"))
_MEMBER_BY_NUMBER = select(Member).where(Member.membership_number == bindparam("value"))
# And each request of a signed-in browser by the id its session holds.
_MEMBER_BY_ID = select(Member).where(Member.id == bindparam("member_id"))


def find_by_id(db: Session, member_id: int) -> Member | None:
    return db.scalar(_MEMBER_BY_ID, {"member_id": member_id})


def find_by_identifier(db: Session, identifier: Identifier) -> Member | None:
    if identifier.kind == "email":
        return db.scalar(_MEMBER_BY_EMAIL, {"value": identifier.value})
    if identifier.kind == "membership_number":
        return db.scalar(_MEMBER_BY_NUMBER, {"value": identifier.value})
    return None


def find(db: Session, raw_identifier: str) -> Member | None:
    return find_by_identifier(db, normalize_identifier(raw_identifier))


def search(db: Session, text: str | None, limit: int) -> list[Member]:
    """Up to ``limit`` members, by membership number, whose membership number starts with
    ``text``, whose NIK is ``text``, or whose email or name contains it (any letter case).
    Without ``text``: the first ``limit``."""
    query = select(Member).order_by(Member.membership_number).limit(limit)
    needle = (text or "").strip().lower()
    if needle:
        query = query.where(
            or_(
                Member.membership_number.startswith(needle, autoescape=True),
                Member.nik == needle,
                func.lower(Member.email).contains(needle, autoescape=True),
                func.lower(Member.full_name).contains(needle, autoescape=True),
            )
        )
    return list(db.scalars(query))


def account_state(member: Member) -> str:
    """none (a record without an online account), pending (activation link not used yet) or active."""
    if member.password_hash is None:
        return "none"
    return "pending" if member.activation_pending else "active"


def create_member(db: Session, new: NewMember, password: str | None) -> Member:
    """Validate and store a member; raises ValidationFailed naming the field at fault."""
    number = new.membership_number.replace("-", "").replace(" ", "")
    if not MEMBERSHIP_NUMBER_PATTERN.fullmatch(number):
        raise ValidationFailed("membership_number", "must be exactly 11 digits")
    if not NIK_PATTERN.fullmatch(new.nik):
        raise ValidationFailed("nik", "must be exactly 16 digits")
    if not new.full_name.strip():
        raise ValidationFailed("full_name", "must not be empty")
    if new.birth_date > utcnow().date():
        raise ValidationFailed("birth_date", "must not be in the future")
    if new.locale not in SUPPORTED_LOCALES:
        raise ValidationFailed("locale", f"must be one of {', '.join(SUPPORTED_LOCALES)}")
    email = None
    if new.email:
        try:
            email = normalize_email(new.email)
        except ValueError:
            raise ValidationFailed("email", "is not a valid email address") from None
    if db.scalar(select(Member.id).where(Member.membership_number == number)) is not None:
        raise ValidationFailed("membership_number", "is already registered")
    if email and db.scalar(select(Member.id).where(Member.email == email)) is not None:
        raise ValidationFailed("email", "is already registered")
    password_hash = None
    if password is not None:
        check_password_acceptable(password, extra_identifiers=(email, number, new.nik))
        password_hash = hash_password(password)

    member = Member(
        subject=random_token(24),
        membership_number=number,
        nik=new.nik,
        full_name=new.full_name.strip(),
        birth_date=new.birth_date,
        email=email,
        email_verified=bool(email) and new.email_verified,
        phone=new.phone,
        locale=new.locale,
        password_hash=password_hash,
    )
    db.add(member)
    db.flush()
    return member


def check_password_acceptable(
    password: str,
    member: Member | None = None,
    min_length: int = MIN_PASSWORD_LENGTH,
    extra_identifiers=(),
    policy: PasswordSettings | None = None,
) -> None:
    """The one password policy, for every path that sets a password (pages, CLI, seed).
    Raises PasswordRejected (a ValidationFailed) with a stable reason id. ``policy``: the
    [passwords] settings (default: those of the app in use, if any)."""
    policy = policy or _current_policy()
    identifiers = tuple(extra_identifiers)
    if member is not None:
        identifiers += tuple(v for v in (member.email, member.membership_number, member.nik) if v)
    try:
        check_password(
            password,
            min_length,
            identifiers,
            blocklist_words=policy.blocklist_words,
            min_strength_score=policy.min_strength_score,
        )
    except PasswordRejected as rejected:
        raise InvalidPassword(rejected.reason, rejected.min_length) from None


def _current_policy() -> PasswordSettings:
    from flask import has_app_context

    if has_app_context():
        from idp.runtime import settings

        return settings().passwords
    return PasswordSettings()


class InvalidPassword(ValidationFailed):
    message_id = "password_rejected"

    PROBLEMS = {
        "too_short": "must be at least {min_length} characters",
        "too_long": f"must be at most {MAX_PASSWORD_LENGTH} characters",
        "common": "is too common: choose one that others are unlikely to use",
        "contains_identifier": "must not contain your email, membership number or NIK",
        "blocklisted": "must not contain the name of this service or its address",
        "repetitive": "is too repetitive (like aaaa or abcabc)",
        "sequential": "is a sequence (like 12345 or abcde)",
        "keyboard_walk": "follows the keyboard (like qwerty)",
        "guessable": "is too easy to guess: add a few unrelated words",
    }

    def __init__(self, reason: str, min_length: int) -> None:
        super().__init__("password", self.PROBLEMS[reason].format(min_length=min_length))
        self.reason = reason
        self.min_length = min_length


def set_password(db: Session, member: Member, password: str) -> None:
    """Replace a member's password (the operator CLI and the demo seed), under the same policy."""
    check_password_acceptable(password, member)
    member.password_hash = hash_password(password)
    db.flush()


def describe(member: Member) -> dict:
    """The profile for operators. Never the password hash: only whether one is set."""
    return {
        "subject": member.subject,
        "membership_number": member.membership_number,
        "nik": member.nik,
        "full_name": member.full_name,
        "birth_date": member.birth_date.isoformat(),
        "email": member.email,
        "email_verified": member.email_verified,
        "phone": member.phone,
        "phone_verified": member.phone_verified,
        "locale": member.locale,
        "password_set": member.password_hash is not None,
        "disabled": member.disabled,
        "disabled_reason": member.disabled_reason,
        "created_at": member.created_at.isoformat(),
        "updated_at": member.updated_at.isoformat(),
    }
