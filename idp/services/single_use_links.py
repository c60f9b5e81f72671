"""Single-use links (password reset, email verification): the rows share ``member_id``,
``expires_at``, ``used_at`` and ``voided_at``, and are used and voided the same way."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.security.tokens import digest, random_token


def issue(db: Session, model, member_id: int, ttl_seconds: int, **fields) -> str:
    """A new link of ``model`` for the member, voiding their open ones (narrowed to the same
    ``fields``' kind by the caller where it matters). Returns the raw token, to be mailed:
    only its SHA-256 digest is stored (256 random bits need no slow hash). The caller commits."""
    void_open(db, model, member_id)
    now = utcnow()
    token = random_token(32)
    db.add(
        model(
            member_id=member_id,
            token_digest=digest(token),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
            **fields,
        )
    )
    db.flush()
    return token


def use_once(db: Session, model, record_id: int) -> bool:
    """Mark the link used in one conditional UPDATE: True for the one request that wins;
    False when it was used, voided or expired meanwhile (nothing changed then)."""
    now = utcnow()
    result = db.execute(
        update(model)
        .where(model.id == record_id, model.used_at.is_(None), model.voided_at.is_(None), model.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def void_open(db: Session, model, member_id: int, *conditions) -> None:
    """Void the member's unused links (narrowed by ``conditions``, e.g. a purpose)."""
    db.execute(
        update(model)
        .where(model.member_id == member_id, model.used_at.is_(None), model.voided_at.is_(None), *conditions)
        .values(voided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
