"""Server-side browser sessions: stored by digest, expired by idle and absolute limits."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.db import run_table_statement
from idp.models import BrowserSession
from idp.security.tokens import digest, random_token
from idp.services import session_end
from idp.settings import SessionSettings

# last_seen_at is written at most this often, so reading pages does not mean a write each time.
LAST_SEEN_GRANULARITY = timedelta(seconds=60)


def is_expired(record: BrowserSession, limits: SessionSettings) -> bool:
    """Idle too long, or signed in (created, when nobody signed in) too long ago."""
    now = utcnow()
    started = record.authenticated_at or record.created_at
    return (
        record.last_seen_at + timedelta(seconds=limits.idle_timeout_seconds) <= now
        or started + timedelta(seconds=limits.absolute_timeout_seconds) <= now
    )


# Prebuilt (see idp.db): every request that carries the cookie loads its session, and a
# request that changed it saves it (the writes are the table's statements, run with
# run_table_statement). Bind names differ from the columns': an UPDATE reserves those. (A
# bind in SET takes its column's type.)
_SESSION_BY_DIGEST = select(BrowserSession).where(BrowserSession.id_digest == bindparam("id_digest"))
_SESSIONS = BrowserSession.__table__
_BY_ID = _SESSIONS.c.id == bindparam("record_id")
_SAVE_DATA = (
    update(_SESSIONS)
    .where(_BY_ID)
    .values(
        data_json=bindparam("new_data_json"),
        member_id=bindparam("new_member_id"),
        authenticated_at=bindparam("new_authenticated_at"),
        last_seen_at=bindparam("now"),
    )
)
_TOUCH = update(_SESSIONS).where(_BY_ID).values(last_seen_at=bindparam("now"))
_OWNER = select(_SESSIONS.c.sid, _SESSIONS.c.member_id).where(_BY_ID)
_DELETE = delete(_SESSIONS).where(_BY_ID)
_INSERT = insert(_SESSIONS)


def load(db: Session, cookie_value: str, limits: SessionSettings) -> BrowserSession | None:
    """The live session named by the cookie, or None (expired ones are deleted)."""
    record = db.scalar(_SESSION_BY_DIGEST, {"id_digest": digest(cookie_value)})
    if record is None:
        return None
    if is_expired(record, limits):
        sid, member_id = record.sid, record.member_id
        db.delete(record)
        session_end.session_ended(db, sid, member_id, session_end.EXPIRED)
        db.commit()
        return None
    return record


def save(
    db: Session,
    record_id: int | None,
    data: dict[str, Any],
    rotate: bool,
    user_agent: str | None,
    ip_address: str | None,
    new_sid: bool = False,
    decided_sid: str | None = None,
) -> str | None:
    """Store the session's data. Returns a new cookie value when one must be set (a new
    session, or a rotated one after a privilege change); None when the cookie stays.

    A rotation changes the cookie, not the public ``sid``, while the same member stays signed
    in (a step-up, a new sign-in with prompt=login): relying parties know the session by its
    sid, and logout must reach every one of them. ``new_sid`` (after a password change) or
    another member signing in gives a new sid; in the second case the old session has ended.
    ``decided_sid``: the sid a sign-in chose in the request (``sid_after_sign_in``), which an
    authorization code issued in the same request already names."""
    now = utcnow()
    member_id = data.get("member_id")
    authenticated_at = datetime.fromtimestamp(data["auth_time"], tz=now.tzinfo) if data.get("auth_time") else None
    if record_id is not None and not rotate:
        run_table_statement(
            db,
            _SAVE_DATA,
            {
                "record_id": record_id,
                "new_data_json": json.dumps(data),
                "new_member_id": member_id,
                "new_authenticated_at": authenticated_at,
                "now": now,
            },
        )
        db.commit()
        return None
    sid = None
    if record_id is not None:
        old = run_table_statement(db, _OWNER, {"record_id": record_id}).first()
        # Rotation: the old identifier stops working at once (session fixation defence). The
        # public session id stays while the same member stays signed in: ID tokens and refresh
        # tokens name the session by it, and ending the session must still find them.
        run_table_statement(db, _DELETE, {"record_id": record_id})
        if old is not None and old.member_id is not None:
            if old.member_id == member_id and not new_sid:
                sid = old.sid
            elif old.member_id != member_id:
                session_end.session_ended(db, old.sid, old.member_id, session_end.REPLACED)
    cookie_value = random_token(32)
    run_table_statement(
        db,
        _INSERT,
        {
            "id_digest": digest(cookie_value),
            "sid": decided_sid or sid or new_sid_value(),
            "member_id": member_id,
            "data_json": json.dumps(data),
            "created_at": now,
            "last_seen_at": now,
            "authenticated_at": authenticated_at,
            "user_agent": (user_agent or "")[:300] or None,
            "ip_address": ip_address,
        },
    )
    db.commit()
    return cookie_value


def new_sid_value() -> str:
    """A session's public id: random, unrelated to the cookie's value."""
    return random_token(16)


def sid_after_sign_in(current_sid: str | None, previous_member_id: int | None, member_id: int) -> str:
    """The public sid a browser's session has once ``member_id`` signs in: the same while the
    same member stays signed in (relying parties know the session by it), a new one when the
    session was anonymous or another member's (whose session then ends: ``save``)."""
    if current_sid is not None and previous_member_id == member_id:
        return current_sid
    return new_sid_value()


def touch(db: Session, record: BrowserSession) -> None:
    if utcnow() - record.last_seen_at >= LAST_SEEN_GRANULARITY:
        run_table_statement(db, _TOUCH, {"record_id": record.id, "now": utcnow()})
        db.commit()


def destroy(db: Session, record_id: int) -> None:
    db.execute(delete(BrowserSession).where(BrowserSession.id == record_id))
    db.commit()
