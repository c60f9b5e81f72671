"""Forgotten passwords: single-use reset tokens, and what a reset does to the account."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.db import get_session
from idp.errors import IdpError
from idp.models import Member, PasswordResetToken
from idp.security.tokens import digest
from idp.services import audit, credentials, notifications, outbound, single_use_links
from idp.services.audit import RequestOrigin
from idp.services.identifiers import normalize_identifier
from idp.services.members import check_password_acceptable, find_by_identifier


class ResetLinkUnusable(IdpError, status=400, message_id="reset_link_unusable"):
    """Unknown, expired, already used or voided: one answer for all."""


def request_reset(raw_identifier: str, ttl_seconds: int, origin: RequestOrigin) -> None:
    """Queue the request: the answer must take the same time whether or not the account
    exists, so the per-account work (``request_reset_now``) happens after it."""
    outbound.enqueue(
        "password_reset",
        {"identifier": raw_identifier, "ttl_seconds": ttl_seconds, "origin": dataclasses.asdict(origin)},
    )


def request_reset_now(payload: dict) -> None:
    """The queue's handler for "password_reset": mail a new reset link to the account behind
    the identifier, voiding earlier ones, within the account's mail budget. Nothing when there
    is no online account that can receive mail. A membership record without an online
    account gets nothing: it must go through activation, which checks NIK and birth date, not
    only control of an imported address."""
    db = get_session()
    origin = RequestOrigin(**payload["origin"])
    identifier = normalize_identifier(payload["identifier"])
    member = find_by_identifier(db, identifier) if "\x00" not in identifier.value else None
    if member is None or not member.email or member.password_hash is None or member.activation_pending:
        audit.record(db, "password_reset_requested", "unknown", origin, identifier_digest=identifier.digest)
        db.commit()
        return
    token = single_use_links.issue(db, PasswordResetToken, member.id, payload["ttl_seconds"])
    audit.record(
        db, "password_reset_requested", "sent", origin, member_id=member.id, identifier_digest=identifier.digest
    )
    db.commit()
    email = notifications.reset_link(member, token, payload["ttl_seconds"])
    notifications.send_within_budget(email, notifications.member_budget(member.id))


def check_reset_token(db: Session, token: str) -> PasswordResetToken:
    """The live token (for showing the form; a GET consumes nothing), or ResetLinkUnusable."""
    if not token or len(token) > 128:
        raise ResetLinkUnusable("malformed")
    record = db.scalar(select(PasswordResetToken).where(PasswordResetToken.token_digest == digest(token)))
    if record is None or record.used_at or record.voided_at or record.expires_at <= utcnow():
        raise ResetLinkUnusable("unusable")
    return record


def reset_password(db: Session, token: str, new_password: str, origin: RequestOrigin, min_length: int) -> Member:
    """Use the token once and set the password, in one transaction: afterwards no session of
    the member survives and everything ``credentials.replace_password`` voids is void. No
    one is signed in; second factors stay, the member must still pass them. Then the notice."""
    record = check_reset_token(db, token)
    member = db.get(Member, record.member_id)
    check_password_acceptable(new_password, member, min_length=min_length)
    if not single_use_links.use_once(db, PasswordResetToken, record.id):
        db.rollback()
        raise ResetLinkUnusable("raced")
    credentials.replace_password(db, member, new_password)
    audit.record(db, "password_reset", "success", origin, member_id=member.id)
    db.commit()
    credentials.password_changed_notice(member, origin)
    return member
