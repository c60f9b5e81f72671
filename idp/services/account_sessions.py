"""Where a member is signed in, and which apps they allowed: listing and ending them.

"Sign out everywhere" ends every browser session of the member (this one too), each through
``session_end`` (so every relying party of each is told by back-channel logout), revokes
every access token issued to them, so /userinfo and introspection refuse those tokens at
once, and raises the member's security epoch, so "remember this browser" cookies stop
skipping the second factor, and revokes their refresh tokens. (Resource servers that verify access tokens
offline accept them until they expire, ``tokens.access_token_ttl_seconds``.) Ending one session
revokes the refresh tokens issued in it. Remembered consents are
not touched: that is what "Connected apps" is for.

Revoking an app deletes the consent, revokes the tokens (access and refresh) issued to that client for this
member and burns the client's unexchanged codes, so the next authorization asks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from authlib.oauth2.rfc6749 import scope_to_list
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import (
    AuthorizationCode,
    BrowserSession,
    Client,
    Consent,
    Member,
)
from idp.services import audit, browser_sessions, credentials, refresh_tokens, session_end
from idp.services.audit import RequestOrigin
from idp.settings import SessionSettings


@dataclass(frozen=True)
class SessionView:
    sid: str  # the public session id, never the cookie value
    user_agent: str | None
    ip_address: str | None
    signed_in_at: datetime | None
    last_seen_at: datetime
    current: bool


@dataclass(frozen=True)
class AppView:
    client_id: str
    name: str
    scopes: list[str]
    granted_at: datetime


def list_sessions(
    db: Session, member_id: int, limits: SessionSettings, current_record_id: int | None
) -> list[SessionView]:
    """The member's live sessions, most recently used first (expired ones are left out)."""
    views = []
    for record in db.scalars(
        select(BrowserSession)
        .where(BrowserSession.member_id == member_id)
        .order_by(BrowserSession.last_seen_at.desc(), BrowserSession.id.desc())
    ):
        if browser_sessions.is_expired(record, limits):
            continue
        views.append(
            SessionView(
                sid=record.sid,
                user_agent=record.user_agent,
                ip_address=record.ip_address,
                signed_in_at=record.authenticated_at,
                last_seen_at=record.last_seen_at,
                current=record.id == current_record_id,
            )
        )
    return views


def end_session(db: Session, member_id: int, sid: str, origin: RequestOrigin) -> bool:
    """End one of the member's sessions by its public id; False when there is no such
    session of theirs (someone else's sid ends nothing)."""
    ended = session_end.end_one_session(db, member_id, sid, session_end.ENDED_FROM_ACCOUNT)
    audit.record(db, "session_ended", "success" if ended else "not_found", origin, member_id=member_id)
    db.commit()
    return ended


def sign_out_everywhere(
    db: Session, member_id: int, origin: RequestOrigin, reason: str = session_end.SIGN_OUT_EVERYWHERE
) -> int:
    """End every session of the member, this browser's included, revoke their issued access
    and refresh tokens and raise the security epoch (so no browser stays "remembered" past the
    second factor). ``reason``: the member asked, or an operator locked or disabled the
    account (``services.account_status``). Returns the number of sessions ended."""
    db.execute(
        update(Member)
        .where(Member.id == member_id)
        .values(security_epoch=Member.security_epoch + 1)
        .execution_options(synchronize_session=False)
    )
    ended = credentials.end_sessions(db, member_id, reason=reason)
    revoked = credentials.revoke_access_tokens(db, member_id=member_id)
    refresh_tokens.revoke_for_member(db, member_id)
    audit.record(
        db, "sign_out_everywhere", "success", origin, member_id=member_id, sessions=ended, tokens=revoked, reason=reason
    )
    db.commit()
    return ended


def list_apps(db: Session, member_id: int) -> list[AppView]:
    rows = db.execute(
        select(Consent, Client.name)
        .join(Client, Client.client_id == Consent.client_id, isouter=True)
        .where(Consent.member_id == member_id)
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
    ).all()
    return [
        AppView(
            client_id=consent.client_id,
            name=name or consent.client_id,
            scopes=scope_to_list(consent.scope) or [],
            granted_at=consent.granted_at,
        )
        for consent, name in rows
    ]


def revoke_app(db: Session, member_id: int, client_id: str, origin: RequestOrigin) -> bool:
    """Forget the consent given to the client, revoke the tokens it holds for the member and
    burn its unexchanged codes. False when the member had no consent for that client."""
    removed = db.execute(
        delete(Consent)
        .where(Consent.member_id == member_id, Consent.client_id == client_id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not removed:
        db.rollback()
        return False
    revoked = credentials.revoke_access_tokens(db, member_id=member_id, client_id=client_id)
    refresh_tokens.revoke_for_client(db, member_id, client_id)
    # Marked consumed: an exchange attempt now counts as reuse and is refused.
    db.execute(
        update(AuthorizationCode)
        .where(
            AuthorizationCode.member_id == member_id,
            AuthorizationCode.client_id == client_id,
            AuthorizationCode.consumed_at.is_(None),
        )
        .values(consumed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    audit.record(db, "consent_revoked", "success", origin, member_id=member_id, client_id=client_id, tokens=revoked)
    db.commit()
    return True
