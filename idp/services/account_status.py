"""What an operator does to an account's standing: disable and enable it (apart from the
temporary lockout), lock it until unlocked, and what either ends at once."""

from __future__ import annotations

from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.errors import IdpError
from idp.models import Member
from idp.services import account_sessions, audit, lockout, session_end
from idp.services.audit import RequestOrigin


class NothingToChange(IdpError, message_id="nothing_to_change"):
    """The account is already in the state asked for (an operator's mistake: exit non-zero)."""


def end_all_access(db: Session, member_id: int, origin: RequestOrigin, reason: str) -> int:
    """The one call site for "this member must hold nothing any more" (disabled, locked by an
    operator): every browser session (each through ``services.session_end``, so relying parties
    get back-channel logout), every access and refresh token, remembered browsers. Returns the
    sessions ended."""
    return account_sessions.sign_out_everywhere(db, member_id, origin, reason=reason)


def disable(db: Session, member: Member, reason: str, by: str) -> int:
    """Disable the account until an operator enables it; its sessions and tokens end now.
    Returns how many sessions ended."""
    if member.disabled:
        raise NothingToChange(f"{member.membership_number} is already disabled")
    member.disabled_at = utcnow()
    member.disabled_reason = reason
    member.disabled_by = by
    audit.record(db, "account_disabled", "success", member_id=member.id, actor=by, reason=reason)
    db.commit()
    return end_all_access(db, member.id, RequestOrigin(), session_end.OPERATOR_DISABLE)


def enable(db: Session, member: Member, by: str) -> None:
    if not member.disabled:
        raise NothingToChange(f"{member.membership_number} is not disabled")
    member.disabled_at = None
    member.disabled_reason = None
    member.disabled_by = None
    audit.record(db, "account_enabled", "success", member_id=member.id, actor=by)
    db.commit()


def lock_by_operator(db: Session, member: Member, reason: str, by: str) -> int:
    """Lock the account until an operator unlocks it; its sessions and tokens end now."""
    lockout.lock_by_operator(db, lockout.subject_key_for_member(member.id), member.id, reason, by)
    audit.record(db, "lock", "success", member_id=member.id, actor=by, reason=reason)
    db.commit()
    return end_all_access(db, member.id, RequestOrigin(), session_end.OPERATOR_LOCK)
