"""What is kept, and for how long: expired rows are deleted, so the database does not grow
with every anonymous request or every sign-in.

``purge`` deletes, each with one DELETE (safe to run in several processes at once):
- interactions (held authorization requests) past their expiry;
- browser sessions past their idle or absolute limit;
- authorization codes, emailed sign-in codes, access-token records and single-use links
  (password reset, email verification) a day past their expiry (used or not: the day keeps
  a late replay of a used code recognisable as one);
- lockout counters of identifiers that name no account, once nothing is locked or counted;
- finished queue jobs after ``retention.finished_jobs_days``;
- audit events after ``retention.audit_days``.
Run by ``idp db purge`` and, every ``retention.purge_interval_seconds``, by the outbound
worker thread of every server process (``outbound.Worker``).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, func, or_
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import (
    AuditEvent,
    AuthorizationCode,
    BrowserSession,
    EmailCode,
    EmailVerificationToken,
    Interaction,
    IssuedToken,
    LoginThrottle,
    PasswordResetToken,
)
from idp.models.outbound import JOB_DONE, JOB_FAILED, OutboundJob
from idp.settings import Settings

# How long a used or expired code, token record or link outlives its expiry.
AFTER_EXPIRY = timedelta(days=1)


def purge(db: Session, settings: Settings) -> dict[str, int]:
    """Delete what is no longer kept (see the module docstring); commits. Returns how many
    rows of each kind went."""
    now = utcnow()
    gone = now - AFTER_EXPIRY
    limits = settings.session
    lockout = settings.lockout
    retention = settings.retention
    deletions = {
        "interactions": delete(Interaction).where(Interaction.expires_at <= now),
        "browser_sessions": delete(BrowserSession).where(
            or_(
                BrowserSession.last_seen_at <= now - timedelta(seconds=limits.idle_timeout_seconds),
                func.coalesce(BrowserSession.authenticated_at, BrowserSession.created_at)
                <= now - timedelta(seconds=limits.absolute_timeout_seconds),
            )
        ),
        "issued_tokens": delete(IssuedToken).where(IssuedToken.expires_at <= gone),
        "authorization_codes": delete(AuthorizationCode).where(AuthorizationCode.expires_at <= gone),
        "email_codes": delete(EmailCode).where(EmailCode.expires_at <= gone),
        "password_reset_links": delete(PasswordResetToken).where(PasswordResetToken.expires_at <= gone),
        "email_verification_links": delete(EmailVerificationToken).where(EmailVerificationToken.expires_at <= gone),
        "unknown_identifier_lockouts": delete(LoginThrottle).where(
            LoginThrottle.member_id.is_(None),
            LoginThrottle.permanently_locked.is_(False),
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
            LoginThrottle.window_started_at <= now - timedelta(seconds=lockout.window_seconds),
            LoginThrottle.hour_started_at <= now - timedelta(hours=1),
        ),
        "finished_jobs": delete(OutboundJob).where(
            and_(
                OutboundJob.state.in_([JOB_DONE, JOB_FAILED]),
                OutboundJob.finished_at <= now - timedelta(days=retention.finished_jobs_days),
            )
        ),
        "audit_events": delete(AuditEvent).where(AuditEvent.occurred_at <= now - timedelta(days=retention.audit_days)),
    }
    counts = {}
    for name, statement in deletions.items():
        counts[name] = db.execute(statement.execution_options(synchronize_session=False)).rowcount
    db.commit()
    return counts
