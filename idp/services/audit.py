"""Writing and reading the audit trail of security events."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, SessionTransaction

from idp import metrics
from idp.clock import utcnow
from idp.db import run_table_statement
from idp.models import AuditEvent

log = logging.getLogger("idp.audit")


@dataclass(frozen=True)
class RequestOrigin:
    """Where a request came from, as far as the audit trail cares."""

    ip_address: str | None = None
    user_agent: str | None = None


def record(
    db: Session,
    event: str,
    outcome: str,
    origin: RequestOrigin | None = None,
    member_id: int | None = None,
    identifier_digest: str | None = None,
    client_id: str | None = None,
    actor: str | None = None,
    **detail: Any,
) -> None:
    """Add an event to the trail, written when the caller's transaction commits and not at all
    if it rolls back, and log it; once committed, it is counted in the metrics
    (``idp_audit_events_total{event, outcome}``), so every event, old or new, is there without
    code of its own.

    The log line is structured (key=value through ``extra``), so an identifier containing a
    line break cannot forge a second line.
    """
    origin = origin or RequestOrigin()
    if not db.in_transaction():
        # The events belong to a transaction (one that has not touched the database yet, too):
        # its rollback or the session's close forgets them.
        db.begin()
    db.info.setdefault(_UNWRITTEN, []).append(
        {
            "occurred_at": utcnow(),
            "event": event,
            "outcome": outcome,
            "member_id": member_id,
            "identifier_digest": identifier_digest,
            "client_id": client_id,
            "ip_address": origin.ip_address,
            "user_agent": (origin.user_agent or "")[:300] or None,
            "actor": actor[:100] if actor else None,
            "detail_json": json.dumps(detail, sort_keys=True, default=str),
        }
    )
    log.info(
        "audit %s %s",
        event,
        outcome,
        extra={"audit": {"event": event, "outcome": outcome, "member_id": member_id, "client_id": client_id}},
    )


# Events recorded in the session's open transaction: written by its commit, in one statement
# (the table's prebuilt insert, see idp.db: through the ORM's unit of work an event cost about
# five times as much, bench/lookups.py), and after the transaction's other work, so a caller
# that records first and does more before it commits holds no write lock for the event
# meanwhile (SQLite has one for the whole database).
_UNWRITTEN = "idp.audit.unwritten"
# The events the commit wrote, counted in the metrics once it succeeded (so they count what
# the trail holds).
_WRITTEN = "idp.audit.written"
_INSERT = insert(AuditEvent.__table__)


@sqlalchemy_event.listens_for(Session, "before_commit")
def _write_recorded(db: Session) -> None:
    if db.in_nested_transaction():
        return  # a savepoint's release: the events wait for the transaction's own commit
    rows = db.info.get(_UNWRITTEN)
    if rows:
        # run_table_statement flushes first, so a row an event refers to (a member added in
        # this transaction) is there. Should either fail, the rollback forgets the events.
        run_table_statement(db, _INSERT, rows)
        db.info[_WRITTEN] = db.info.pop(_UNWRITTEN)


@sqlalchemy_event.listens_for(Session, "after_commit")
def _count_committed(db: Session) -> None:
    written = db.info.pop(_WRITTEN, None)
    if written:
        metrics.audit_events_committed([(row["event"], row["outcome"]) for row in written])


@sqlalchemy_event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(db: Session, transaction: SessionTransaction) -> None:
    # After a commit both lists are empty already. A rollback, or a session closed without
    # committing (which need not reach the database at all), forgets what was recorded.
    if transaction.parent is None:
        db.info.pop(_UNWRITTEN, None)
        db.info.pop(_WRITTEN, None)


def recent(db: Session, limit: int = 50, member_id: int | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(limit)
    if member_id is not None:
        query = query.where(AuditEvent.member_id == member_id)
    return list(db.scalars(query))


def previous_sign_in(db: Session, member_id: int, signed_in_at: datetime) -> AuditEvent | None:
    """The member's last successful sign-in before the one made at ``signed_in_at`` (the
    current session's): the account overview shows when and from where, so a sign-in that
    was not theirs stands out. None when this is the first one on record."""
    # The session keeps whole seconds; the password check of this sign-in happened before
    # it was recorded, so it is the newest event up to a second after, and skipped.
    until = signed_in_at + timedelta(seconds=1)
    query = (
        select(AuditEvent)
        .where(
            AuditEvent.member_id == member_id,
            AuditEvent.event == "sign_in",
            AuditEvent.outcome == "success",
            AuditEvent.occurred_at < until,
        )
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .offset(1)
        .limit(1)
    )
    return db.scalars(query).first()


def describe(event: AuditEvent) -> dict[str, Any]:
    """An event for operators: never more than was recorded (no secrets were)."""
    member = event.member_id and _member_reference(event)
    return {
        "time": event.occurred_at.isoformat(),
        "event": event.event,
        "outcome": event.outcome,
        "member": member or None,
        "identifier_digest": event.identifier_digest,
        "client_id": event.client_id,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "actor": event.actor,
        "detail": json.loads(event.detail_json) or None,
    }


def _member_reference(event: AuditEvent) -> str | None:
    from sqlalchemy.orm import object_session

    from idp.models import Member

    member = object_session(event).get(Member, event.member_id)
    return member.membership_number if member is not None else f"#{event.member_id}"
