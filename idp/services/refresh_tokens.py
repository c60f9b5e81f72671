"""Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): issued in families, rotated on every use,
and what ends them.

- A token is 256 random bits; only its SHA-256 is stored. It is bound to the client, the
  member, the sign-in session (``sid``), the scopes granted and the audience.
- Using a token claims it with one conditional UPDATE (``used_at IS NULL``): of two
  concurrent uses, in any number of processes, exactly one wins. The winner gets a new token
  in the same family.
- A used (rotated) token presented again is reuse: the whole family is revoked, and with it
  the access tokens of the family and of its sign-in session. (A client that raced itself
  loses its tokens too: the two requests cannot be told from a thief's.)
- Idle lifetime (``tokens.refresh_token_idle_seconds``) per token, absolute lifetime
  (``tokens.refresh_token_absolute_seconds``) per family.

Ended by: ``revoke_for_session`` (signing out of that session), ``revoke_for_member``
(password reset or change, "sign out everywhere", operator lock or disable),
``revoke_for_client`` (removing a connected app), ``revoke_family`` (RFC 7009 revocation).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.db import run_table_statement
from idp.models import IssuedToken, RefreshToken
from idp.models.authentication import AuthenticationContext
from idp.security.tokens import digest, random_token

TOKEN_BYTES = 32  # 256 bits


@dataclass(frozen=True)
class Lifetimes:
    idle_seconds: int
    absolute_seconds: int


# Prebuilt (see idp.db): each refresh finds its token, claims it (conditionally, so that
# exactly one of several concurrent uses wins) and writes the next; the writes are the
# table's statements (run_table_statement).
_BY_DIGEST = select(RefreshToken).where(RefreshToken.token_digest == bindparam("token_digest"))
_REFRESH_TOKENS = RefreshToken.__table__
_INSERT = insert(_REFRESH_TOKENS)
_CLAIM = (
    update(_REFRESH_TOKENS)
    .where(
        _REFRESH_TOKENS.c.id == bindparam("record_id"),
        _REFRESH_TOKENS.c.used_at.is_(None),
        _REFRESH_TOKENS.c.revoked_at.is_(None),
    )
    .values(used_at=bindparam("now"))
)


def issue(
    db: Session,
    *,
    client_id: str,
    member_id: int,
    scope: str,
    audience: str | None,
    authentication: AuthenticationContext,
    lifetimes: Lifetimes,
    family_id: str | None = None,
    family_expires_at: datetime | None = None,
) -> tuple[str, str]:
    """A new refresh token: the first of a new family, or (given both family arguments) the
    next of an existing one. Returns the token (given to the client once) and its family.
    Written at once, by the table's statement (see idp.db.run_table_statement); the caller
    commits."""
    now = utcnow()
    if family_id is None or family_expires_at is None:
        family_id = secrets.token_hex(16)
        family_expires_at = now + timedelta(seconds=lifetimes.absolute_seconds)
    token = random_token(TOKEN_BYTES)
    values = {
        "token_digest": digest(token),
        "family_id": family_id,
        "client_id": client_id,
        "member_id": member_id,
        "session_sid": authentication.sid,
        "scope": scope,
        "audience": audience,
        "auth_time": authentication.auth_time,
        "acr": authentication.acr,
        "amr_json": json.dumps(list(authentication.amr)),
        "issued_at": now,
        "expires_at": min(now + timedelta(seconds=lifetimes.idle_seconds), family_expires_at),
        "family_expires_at": family_expires_at,
    }
    run_table_statement(db, _INSERT, values)
    return token, family_id


def find(db: Session, token: str) -> RefreshToken | None:
    if not token or len(token) > 200 or "\x00" in token:
        return None
    return db.scalar(_BY_DIGEST, {"token_digest": digest(token)})


def is_live(record: RefreshToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (
        record.used_at is None
        and record.revoked_at is None
        and record.expires_at > now
        and record.family_expires_at > now
    )


def claim(db: Session, record: RefreshToken) -> bool:
    """Mark the token used, if no one did before: one conditional UPDATE, so exactly one of
    several concurrent uses wins (a row lock on PostgreSQL, the write lock on SQLite)."""
    result = run_table_statement(db, _CLAIM, {"record_id": record.id, "now": utcnow()})
    return result.rowcount == 1


def was_rotated(db: Session, record: RefreshToken) -> bool:
    """Whether the token was used before (so presenting it again is reuse), as stored now."""
    db.refresh(record)
    return record.used_at is not None


def revoke_family(db: Session, family_id: str, session_sid: str | None = None) -> int:
    """Revoke every token of the family and the access tokens issued from it (and, given
    ``session_sid``, every access token of that sign-in session). Returns how many refresh
    tokens were still live."""
    now = utcnow()
    revoked = db.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    access = IssuedToken.family_id == family_id
    if session_sid:
        access = or_(access, IssuedToken.session_sid == session_sid)
    _revoke_access_tokens(db, access)
    return revoked


def revoke_for_session(db: Session, sid: str | None) -> int:
    """A sign-in session ended: revoke its refresh tokens and its access tokens. Returns how
    many refresh tokens were revoked. The caller commits."""
    if not sid:
        return 0
    now = utcnow()
    revoked = db.execute(
        update(RefreshToken)
        .where(RefreshToken.session_sid == sid, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    _revoke_access_tokens(db, IssuedToken.session_sid == sid)
    return revoked


def revoke_for_member(db: Session, member_id: int, client_id: str | None = None) -> int:
    """Revoke the member's refresh tokens (at one client, or everywhere) and their access
    tokens. For password reset and change, "sign out everywhere", operator lock and disable.
    Returns how many refresh tokens were revoked. The caller commits."""
    conditions = [RefreshToken.member_id == member_id, RefreshToken.revoked_at.is_(None)]
    access = [IssuedToken.member_id == member_id]
    if client_id is not None:
        conditions.append(RefreshToken.client_id == client_id)
        access.append(IssuedToken.client_id == client_id)
    revoked = db.execute(
        update(RefreshToken).where(*conditions).values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    _revoke_access_tokens(db, *access)
    return revoked


def revoke_for_client(db: Session, member_id: int, client_id: str) -> int:
    """Removing a connected app: its refresh and access tokens for the member."""
    return revoke_for_member(db, member_id, client_id=client_id)


def _revoke_access_tokens(db: Session, *conditions) -> None:
    db.execute(
        update(IssuedToken)
        .where(*conditions, IssuedToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def purge_expired(db: Session) -> tuple[int, int]:
    """Delete what can no longer be used or tell anything: refresh tokens of families past
    their absolute lifetime (a used token of a live family stays, to recognise its reuse) and
    access-token records past their expiry. Returns (refresh tokens, access tokens) deleted.
    The caller commits."""
    from sqlalchemy import delete

    now = utcnow()
    refresh = db.execute(
        delete(RefreshToken).where(RefreshToken.family_expires_at <= now).execution_options(synchronize_session=False)
    ).rowcount
    access = db.execute(
        delete(IssuedToken).where(IssuedToken.expires_at <= now).execution_options(synchronize_session=False)
    ).rowcount
    return refresh, access
