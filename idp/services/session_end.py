"""What happens when a sign-in session ends, in one place, whatever ended it.

A session ends when the member signs out of this browser or through a relying party
(RP-Initiated Logout), ends it from the account pages, signs out everywhere, resets or
changes the password, when an operator locks or disables the account, when another member
signs in to the same browser, and when it expires and is found so. Every one of those paths
calls ``session_ended`` (or ``end_member_sessions``, which deletes the rows and calls it for
each), which:

- revokes the access and refresh tokens issued in the session (``IssuedToken.session_sid``,
  ``refresh_tokens.revoke_for_session``), so UserInfo, introspection and the refresh grant
  refuse them at once;
- queues a back-channel logout (``idp.services.backchannel_logout``) for every client that got
  tokens in the session and registered a ``backchannel_logout_uri``; the jobs are stored in
  the caller's transaction, so they exist exactly when the change is committed, and are
  delivered by the outbound worker, never inside the member's request.

The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.db import insert_unless_present
from idp.models import BrowserSession, Client, IssuedToken, Member, SessionClient
from idp.services import audit, outbound, refresh_tokens

# Why a session ended, as audited and as the rule table in docs/architecture.md lists them.
SIGNED_OUT = "signed_out"  # signing out of this browser at idp
RP_LOGOUT = "rp_logout"  # RP-Initiated Logout at the end_session_endpoint
ENDED_FROM_ACCOUNT = "ended_from_account"  # one session ended from the account pages
SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
PASSWORD_RESET = "password_reset"
PASSWORD_CHANGED = "password_changed"
OPERATOR_LOCK = "operator_lock"
OPERATOR_DISABLE = "operator_disable"
REPLACED = "replaced"  # another member signed in to this browser
EXPIRED = "expired"
ENDED = "ended"  # a caller that names no reason


def record_participant(db: Session, sid: str | None, client_id: str, member_id: int) -> None:
    """Remember that ``client_id`` got tokens in session ``sid`` (once per pair; concurrent
    token requests of one client in one session are both fine)."""
    if not sid:
        return
    insert_unless_present(
        db, SessionClient, {"sid": sid, "client_id": client_id, "member_id": member_id, "first_issued_at": utcnow()}
    )


def session_ended(db: Session, sid: str | None, member_id: int | None, reason: str) -> int:
    """Session ``sid`` of ``member_id`` has ended (its row is gone or going): revoke its access
    tokens and queue back-channel logout to the clients that took part. Returns how many
    clients are told. Safe to call twice for one session (the second call finds nothing)."""
    if not sid or member_id is None:
        return 0
    revoked = db.execute(
        update(IssuedToken)
        .where(IssuedToken.session_sid == sid, IssuedToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    # Its refresh tokens too: a relying party must not keep acting for a session that ended.
    refresh = refresh_tokens.revoke_for_session(db, sid)
    participants = list(db.scalars(select(SessionClient.client_id).where(SessionClient.sid == sid)))
    db.execute(delete(SessionClient).where(SessionClient.sid == sid).execution_options(synchronize_session=False))
    told = 0
    if participants:
        subject = db.scalar(select(Member.subject).where(Member.id == member_id))
        for client in db.scalars(
            select(Client).where(Client.client_id.in_(participants), Client.backchannel_logout_uri.is_not(None))
        ):
            outbound.enqueue_in(
                db, "backchannel_logout", {"client_id": client.client_id, "sub": subject, "sid": sid, "reason": reason}
            )
            told += 1
    audit.record(
        db,
        "session_end",
        "success",
        member_id=member_id,
        reason=reason,
        tokens=revoked,
        refresh_tokens=refresh,
        clients=len(participants),
        backchannel=told,
    )
    return told


def end_member_sessions(
    db: Session, member_id: int, reason: str, keep_session_id: int | None = None
) -> tuple[int, list[str]]:
    """End the member's browser sessions on the server, but ``keep_session_id`` (its caller
    deals with that one). Returns how many ended and their sids."""
    query = select(BrowserSession.id, BrowserSession.sid).where(BrowserSession.member_id == member_id)
    if keep_session_id is not None:
        query = query.where(BrowserSession.id != keep_session_id)
    rows = db.execute(query).all()
    return _end_rows(db, member_id, rows, reason), [sid for _, sid in rows]


def end_one_session(db: Session, member_id: int, sid: str, reason: str) -> bool:
    """End the member's session named by its public id; False when there is none of theirs."""
    rows = db.execute(
        select(BrowserSession.id, BrowserSession.sid).where(
            BrowserSession.member_id == member_id, BrowserSession.sid == sid
        )
    ).all()
    return _end_rows(db, member_id, rows, reason) == 1


def _end_rows(db: Session, member_id: int, rows: Iterable, reason: str) -> int:
    ended = 0
    for record_id, sid in rows:
        deleted = db.execute(
            delete(BrowserSession).where(BrowserSession.id == record_id).execution_options(synchronize_session=False)
        ).rowcount
        if deleted:
            session_ended(db, sid, member_id, reason)
            ended += 1
    return ended
