"""What changing a password does everywhere, in one place: the new hash; every browser session
ended (but the one the member is changing it from); issued access tokens revoked; open reset
links void; "remember this browser" cookies void (the security epoch); the password lockout
cleared; and, once committed, a notice to the member."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import BrowserSession, IssuedToken, Member, PasswordResetToken
from idp.security.passwords import hash_password
from idp.services import lockout, notifications, single_use_links
from idp.services.audit import RequestOrigin


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


def end_sessions(db: Session, member_id: int, keep_session_id: int | None = None) -> int:
    """End the member's browser sessions on the server, but ``keep_session_id`` (the caller
    rotates that one). Returns how many ended."""
    ended = delete(BrowserSession).where(BrowserSession.member_id == member_id)
    if keep_session_id is not None:
        ended = ended.where(BrowserSession.id != keep_session_id)
    return db.execute(ended.execution_options(synchronize_session=False)).rowcount


def replace_password(db: Session, member: Member, new_password: str, keep_session_id: int | None = None) -> int:
    """Set a new (already policy-checked) password and void everything the old one let anyone
    keep. Second factors stay: the member must still pass them. The caller commits once, then
    sends ``password_changed_notice``. Returns how many sessions ended."""
    member.password_hash = hash_password(new_password)
    member.security_epoch = (member.security_epoch or 0) + 1
    void_reset_links(db, member.id)
    revoke_access_tokens(db, member_id=member.id)
    # The lockout's failures were someone's guesses at the old password.
    lockout.clear_member(db, member.id)
    return end_sessions(db, member.id, keep_session_id)


def password_changed_notice(member: Member, origin: RequestOrigin) -> None:
    """Tell the member, always (never dropped by a mail budget)."""
    notifications.send_notice(notifications.password_changed(member, origin), member, "password_changed")
