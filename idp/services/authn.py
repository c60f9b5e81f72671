"""Checking a member's password, the same way whether or not the account exists."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from idp.errors import LoginFailed
from idp.models import Member
from idp.security.passwords import (
    MAX_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from idp.services import audit, lockout
from idp.services.audit import RequestOrigin
from idp.services.identifiers import normalize_identifier
from idp.services.lockout import AccountLocked, LockoutPolicy, LockStarted
from idp.services.members import find_by_identifier

LockListener = Callable[[Member, LockStarted], None]


def authenticate_password(
    db: Session,
    raw_identifier: str,
    password: str,
    origin: RequestOrigin,
    policy: LockoutPolicy,
    on_lock_started: LockListener | None = None,
) -> Member:
    """The member behind the identifier if the password is right.

    Raises LoginFailed for a wrong password, an unknown identifier or an account without a
    password — one error for all, after the same hash verification (a dummy hash when there
    is no account), so neither message nor timing tells whether an account exists.
    Raises AccountLocked, without checking the password, while the account (or the unknown
    identifier, counted the same way) is locked; and when this failure starts a lock.
    """
    identifier = normalize_identifier(raw_identifier)
    # No stored identifier holds a NUL, and PostgreSQL refuses NUL in a text comparison:
    # such an identifier matches no one (and still costs the dummy hash below).
    member = find_by_identifier(db, identifier) if "\x00" not in identifier.value else None
    member_id = member.id if member is not None else None
    key = lockout.subject_key(member, identifier)

    if len(password) > MAX_PASSWORD_LENGTH:
        # Too long to be a password we accepted: refuse before hashing (cheap denial of
        # service) and without counting it, since nothing was guessed.
        _record(db, "failure", origin, member_id, identifier.digest, reason="too_long")
        raise LoginFailed("password too long")

    try:
        lockout.reserve_attempt(db, key, member_id, policy)
    except AccountLocked:
        _record(db, "locked", origin, member_id, identifier.digest)
        raise

    password_hash = member.password_hash if member is not None else None
    # The password is verified first in every case (same work, same time); an account that
    # cannot sign in yet (self-activation waiting for its email link) then fails like a
    # wrong password, with the same message.
    password_right = verify_password(password, password_hash)
    if member is None or not password_right or not member.can_sign_in:
        started = lockout.record_failure(db, key, policy)
        _record(db, "failure", origin, member_id, identifier.digest, reason="wrong_credentials")
        if started is not None:
            audit.record(
                db,
                "lock_started",
                "locked",
                origin,
                member_id=member_id,
                identifier_digest=identifier.digest,
                locked_until=started.locked_until,
                lock_count=started.lock_count,
            )
            db.commit()
            if member is not None and on_lock_started is not None:
                on_lock_started(member, started)
            raise AccountLocked(started.locked_until)
        raise LoginFailed("wrong identifier or password")

    lockout.record_success(db, key)
    if needs_rehash(member.password_hash):
        # Parameters changed since this hash was made: renew it while we have the password.
        member.password_hash = hash_password(password)
    _record(db, "success", origin, member_id, identifier.digest)
    return member


def _record(db: Session, outcome: str, origin: RequestOrigin, member_id, identifier_digest, **detail) -> None:
    audit.record(db, "sign_in", outcome, origin, member_id=member_id, identifier_digest=identifier_digest, **detail)
    db.commit()
