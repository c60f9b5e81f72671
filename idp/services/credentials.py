"""What changing a password does everywhere, in one place: the new hash; every browser session
ended (but the one the member is changing it from); issued access and refresh tokens revoked; open reset
links void; "remember this browser" cookies void (the security epoch); the password lockout
cleared; and, once committed, a notice to the member."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import BrowserSession, IssuedToken, Member, PasswordResetToken
from idp.security.passwords import hash_password
from idp.services import lockout, notifications, refresh_tokens, session_end, single_use_links
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


def end_sessions(
    db: Session, member_id: int, keep_session_id: int | None = None, reason: str = session_end.ENDED
) -> int:
    """End the member's browser sessions on the server, but ``keep_session_id`` (the caller
    rotates that one), each through ``session_end`` (back-channel logout included). Returns
    how many ended."""
    ended, _ = session_end.end_member_sessions(db, member_id, reason, keep_session_id)
    return ended


def replace_password(db: Session, member: Member, new_password: str, keep_session_id: int | None = None) -> int:
    """Set a new (already policy-checked) password and void everything the old one let anyone
    keep. Second factors stay: the member must still pass them. The caller commits once, then
    sends ``password_changed_notice``. Returns how many sessions ended.

    With ``keep_session_id`` (a change from the account pages) that browser stays signed in,
    but what its session gave relying parties ends like everything else: its tokens are
    revoked with the member's, and its clients are told by back-channel logout (the session
    is rotated, so its ``sid`` is a new one from now on)."""
    member.password_hash = hash_password(new_password)
    member.security_epoch = (member.security_epoch or 0) + 1
    void_reset_links(db, member.id)
    revoke_access_tokens(db, member_id=member.id)
    refresh_tokens.revoke_for_member(db, member.id)
    # The lockout's failures were someone's guesses at the old password.
    lockout.clear_member(db, member.id)
    reason = session_end.PASSWORD_RESET if keep_session_id is None else session_end.PASSWORD_CHANGED
    if keep_session_id is not None:
        kept_sid = db.scalar(select(BrowserSession.sid).where(BrowserSession.id == keep_session_id))
        session_end.session_ended(db, kept_sid, member.id, reason)
    return end_sessions(db, member.id, keep_session_id, reason)


def password_changed_notice(member: Member, origin: RequestOrigin) -> None:
    """Tell the member, always (never dropped by a mail budget)."""
    notifications.send_notice(notifications.password_changed(member, origin), member, "password_changed")
