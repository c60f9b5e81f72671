"""Single-use links (password reset, email verification): the rows share ``member_id``,
``expires_at``, ``used_at`` and ``voided_at``, and are used and voided the same way."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from idp.clock import utcnow


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
