"""Checking a member's password, the same way whether or not the account exists."""

from __future__ import annotations

from sqlalchemy.orm import Session

from idp.errors import LoginFailed
from idp.models import Member
from idp.security.passwords import (
    MAX_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from idp.services import audit, lockout, notifications
from idp.services.audit import RequestOrigin
from idp.services.identifiers import normalize_identifier
from idp.services.lockout import Guard, Verdict
from idp.services.members import find_by_identifier
from idp.settings import LockoutSettings

SIGN_IN = Guard("sign_in", on_lock_started=notifications.lock_started)


def authenticate_password(
    db: Session, raw_identifier: str, password: str, origin: RequestOrigin, policy: LockoutSettings
) -> Member:
    """The member behind the identifier if the password is right.

    Raises LoginFailed for a wrong password, an unknown identifier or an account without a
    password — one error for all, after the same hash verification (a dummy hash when there
    is no account), so neither message nor timing tells whether an account exists.
    Raises AccountLocked, without checking the password, while the account (or the unknown
    identifier, counted the same way) is locked; and when this failure starts a lock.
    On success the caller commits: the lockout's success and its audit record go in with the
    sign-in they lead to (a failure is committed here, before the error is raised).
    """
    identifier = normalize_identifier(raw_identifier)
    # No stored identifier holds a NUL, and PostgreSQL refuses NUL in a text comparison:
    # such an identifier matches no one (and still costs the dummy hash below).
    member = find_by_identifier(db, identifier) if "\x00" not in identifier.value else None
    subject = lockout.subject_of(member, identifier)

    if len(password) > MAX_PASSWORD_LENGTH:
        # Too long to be a password we accepted: refuse before hashing (cheap denial of
        # service) and without counting it, since nothing was guessed; during a lock, the
        # same answer as every other attempt.
        locked = lockout.lock_in_force(db, subject.key)
        if locked is not None:
            audit.record(
                db,
                "sign_in",
                "locked",
                origin,
                member_id=subject.member_id,
                identifier_digest=subject.identifier_digest,
            )
            db.commit()
            raise locked
        audit.record(
            db,
            "sign_in",
            "failure",
            origin,
            member_id=subject.member_id,
            identifier_digest=subject.identifier_digest,
            reason="too_long",
        )
        db.commit()
        raise LoginFailed("password too long")

    def check() -> Verdict:
        password_hash = member.password_hash if member is not None else None
        # The password is verified first in every case (same work, same time); an account
        # that cannot sign in yet (self-activation waiting for its email link) then fails
        # like a wrong password, with the same message.
        password_right = verify_password(password, password_hash)
        if member is None or not password_right or not member.can_sign_in:
            return Verdict(ok=False, outcome="failure", detail={"reason": "wrong_credentials"})
        return Verdict(ok=True, outcome="success")

    verdict = lockout.guarded_check(db, SIGN_IN, subject, policy, origin, check, commit_success=False)
    if not verdict.ok:
        raise LoginFailed("wrong identifier or password")
    if needs_rehash(member.password_hash):
        # Parameters changed since this hash was made: renew it while we have the password.
        member.password_hash = hash_password(password)
    return member
