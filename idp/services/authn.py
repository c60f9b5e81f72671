"""Checking a member's password, the same way whether or not the account exists."""

from __future__ import annotations

from sqlalchemy.orm import Session

from idp.errors import LoginFailed
from idp.models import Member
from idp.security.passwords import MAX_PASSWORD_LENGTH, hash_password, needs_rehash, verify_password
from idp.services import audit
from idp.services.audit import RequestOrigin
from idp.services.identifiers import normalize_identifier
from idp.services.members import find_by_identifier


def authenticate_password(db: Session, raw_identifier: str, password: str, origin: RequestOrigin) -> Member:
    """The member behind the identifier if the password is right; LoginFailed otherwise.

    An unknown identifier costs the same hash verification as a known one (a dummy hash),
    and every failure raises the same error, so neither message nor timing tells whether
    an account exists.
    """
    identifier = normalize_identifier(raw_identifier)
    if len(password) > MAX_PASSWORD_LENGTH:
        # Too long to be a password we accepted; refuse before hashing (cheap denial of service).
        audit.record(db, "sign_in", "failure", origin, identifier_digest=identifier.digest, reason="too_long")
        db.commit()
        raise LoginFailed("password too long")

    member = find_by_identifier(db, identifier)
    password_hash = member.password_hash if member is not None else None
    if not verify_password(password, password_hash) or member is None:
        audit.record(
            db,
            "sign_in",
            "failure",
            origin,
            member_id=member.id if member is not None else None,
            identifier_digest=identifier.digest,
        )
        db.commit()
        raise LoginFailed("wrong identifier or password")

    if needs_rehash(member.password_hash):
        # Parameters changed since this hash was made: renew it while we have the password.
        member.password_hash = hash_password(password)
    audit.record(db, "sign_in", "success", origin, member_id=member.id, identifier_digest=identifier.digest)
    db.commit()
    return member
