"""What changing a credential does everywhere, in one place: issued access tokens revoked,
open reset links void, "remember this browser" cookies void (the security epoch)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import IssuedToken, Member, PasswordResetToken
from idp.security.passwords import hash_password
from idp.services import single_use_links


def revoke_access_tokens(db: Session, member_id: int | None = None, client_id: str | None = None) -> int:
    """Revoke the unrevoked access tokens of a member, of a client, or of a member at a client.
    Returns how many. (Offline verifiers keep accepting them until they expire.)"""
    if member_id is None and client_id is None:
        raise ValueError("name a member, a client or both")
    conditions = [IssuedToken.revoked_at.is_(None)]
    if member_id is not None:
        conditions.append(IssuedToken.member_id == member_id)
    if client_id is not None:
        conditions.append(IssuedToken.client_id == client_id)
    result = db.execute(
        update(IssuedToken).where(*conditions).values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    )
    return result.rowcount


def void_reset_links(db: Session, member_id: int) -> None:
    single_use_links.void_open(db, PasswordResetToken, member_id)


def replace_password(db: Session, member: Member, new_password: str) -> None:
    """Set a new (already policy-checked) password, and void what the old one let anyone keep:
    reset links, remembered browsers and issued access tokens. Sessions are the caller's call
    (a reset ends them all, a change from the account page keeps the current one)."""
    member.password_hash = hash_password(new_password)
    member.security_epoch = (member.security_epoch or 0) + 1
    void_reset_links(db, member.id)
    revoke_access_tokens(db, member_id=member.id)
