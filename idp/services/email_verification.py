"""Single-use links that prove a member controls an email address.

Shared by self-activation (purpose ``activation``) and the profile's email change (purpose
``email_change``). The raw token goes into the mail only; the database keeps its SHA-256
digest. A link is single use, expires, and is voided by a newer link for the same member.
Opening a link (GET) only *checks* it, so mail scanners that fetch links burn nothing; the
page's confirm button (POST) *consumes* it with one conditional UPDATE, so two concurrent
confirmations cannot both succeed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.db import get_session
from idp.errors import IdpError
from idp.models import EmailVerificationToken, Member, PasswordResetToken
from idp.security.tokens import digest
from idp.services import audit, notifications, outbound, single_use_links
from idp.services.audit import RequestOrigin

PURPOSE_ACTIVATION = "activation"
PURPOSE_EMAIL_CHANGE = "email_change"
PURPOSES = (PURPOSE_ACTIVATION, PURPOSE_EMAIL_CHANGE)

# Tokens are 32 random bytes, 43 URL-safe characters; anything much longer is not ours.
_MAX_TOKEN_LENGTH = 128


class VerificationLinkUnusable(IdpError, status=400, message_id="verification_link_unusable"):
    """Unknown, expired, already used, voided, or for another purpose: one answer for all."""


@dataclass(frozen=True)
class IssuedLink:
    member: Member
    email: str
    token: str  # the raw token, to be mailed; never stored or logged


class EmailTaken(IdpError, status=409, message_id="email_taken"):
    """At confirmation, the address turned out to belong to another account by now."""


def offer(db: Session, member: Member, purpose: str, email: str, ttl_seconds: int, origin, event: str) -> None:
    """Issue a link proving ``email`` for ``purpose`` (voiding older ones), commit, and queue
    its mail. Whether the address already belongs to another account is decided after the
    answer (``offer_now``): then the link goes to no one and the owner is told instead. So
    the page, the pending change it shows and the time it takes are the same either way."""
    link = issue(db, member, purpose, email, ttl_seconds)
    db.commit()
    payload = {
        "member_id": member.id,
        "purpose": purpose,
        "email": email,
        "token": link.token,
        "ttl_seconds": ttl_seconds,
        "origin": dataclasses.asdict(origin),
        "event": event,
    }
    outbound.enqueue("address_offer", payload)


def offer_now(payload: dict) -> None:
    """The queue's handler for "address_offer": mail the link, or, when another account has
    the address, tell that account (the link, mailed to no one, cannot be used and expires);
    audited as the payload's event, within the address's mail budget."""
    db = get_session()
    member = db.get(Member, payload["member_id"])
    if member is None:
        return
    email, purpose = payload["email"], payload["purpose"]
    origin = RequestOrigin(**payload["origin"])
    owner = db.scalar(select(Member).where(Member.email == email, Member.id != member.id))
    audit.record(db, payload["event"], "email_in_use" if owner else "link_sent", origin, member_id=member.id)
    db.commit()
    if owner is not None:
        mail = notifications.address_in_use(owner, email, purpose, notifications.forgot_password_url())
    else:
        mail = notifications.verify_email(member, email, payload["token"], payload["ttl_seconds"], purpose)
    notifications.send_within_budget(mail, notifications.address_budget(email))


def issue(db: Session, member: Member, purpose: str, email: str, ttl_seconds: int) -> IssuedLink:
    """A new link for ``email``, voiding the member's earlier open links of any purpose (a
    member has at most one address change or activation in flight). The caller commits."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    token = single_use_links.issue(db, EmailVerificationToken, member.id, ttl_seconds, purpose=purpose, email=email)
    return IssuedLink(member=member, email=email, token=token)


def use_for_address(
    db: Session, token: str, purpose: str, event: str, origin, also: Callable[[Member], None] | None = None
) -> tuple[Member, str | None]:
    """Use the link once and make its address the member's verified email, checking again that
    no other account took it meanwhile (EmailTaken; the link is used up either way). ``also``
    applies what else the purpose changes, in the same transaction. Open links and reset
    links (sent to the earlier address) stop working. Audited as ``event``. Returns the member
    and their address before."""
    record = consume(db, token, purpose)
    member = db.get(Member, record.member_id)
    if email_in_use(db, record.email, except_member_id=member.id):
        audit.record(db, event, "email_in_use", origin, member_id=member.id)
        db.commit()
        raise EmailTaken("taken at confirmation")
    old_email = member.email
    member.email = record.email
    member.email_verified = True
    if also is not None:
        also(member)
    void_open(db, member.id)
    single_use_links.void_open(db, PasswordResetToken, member.id)
    audit.record(db, event, "success", origin, member_id=member.id)
    try:
        db.commit()
    except IntegrityError:  # another account took the address in the same instant
        db.rollback()
        raise EmailTaken("taken at confirmation (race)") from None
    return member, old_email


def check(db: Session, token: str, purpose: str) -> EmailVerificationToken:
    """The live token record (to show the confirm page), or VerificationLinkUnusable.
    Consumes nothing."""
    if not token or len(token) > _MAX_TOKEN_LENGTH or "\x00" in token:
        raise VerificationLinkUnusable("malformed")
    record = db.scalar(select(EmailVerificationToken).where(EmailVerificationToken.token_digest == digest(token)))
    if (
        record is None
        or record.purpose != purpose
        or record.used_at is not None
        or record.voided_at is not None
        or record.expires_at <= utcnow()
    ):
        raise VerificationLinkUnusable("unusable")
    return record


def consume(db: Session, token: str, purpose: str) -> EmailVerificationToken:
    """Use the link once: a conditional UPDATE that only one request can win. The caller
    applies the change in the same transaction and commits (or rolls back, which leaves the
    link unused)."""
    record = check(db, token, purpose)
    if not single_use_links.use_once(db, EmailVerificationToken, record.id):
        db.rollback()
        raise VerificationLinkUnusable("raced")
    return record


def void_open(db: Session, member_id: int, purpose: str | None = None) -> None:
    """Void the member's unused links (of one purpose, or all)."""
    conditions = [EmailVerificationToken.purpose == purpose] if purpose is not None else []
    single_use_links.void_open(db, EmailVerificationToken, member_id, *conditions)


def pending(db: Session, member_id: int, purpose: str) -> EmailVerificationToken | None:
    """The member's live link of this purpose, if any (e.g. "change to … waiting for you to
    open the link")."""
    now = utcnow()
    return db.scalar(
        select(EmailVerificationToken)
        .where(
            EmailVerificationToken.member_id == member_id,
            EmailVerificationToken.purpose == purpose,
            EmailVerificationToken.used_at.is_(None),
            EmailVerificationToken.voided_at.is_(None),
            EmailVerificationToken.expires_at > now,
        )
        .order_by(EmailVerificationToken.created_at.desc(), EmailVerificationToken.id.desc())
        .limit(1)
    )


def email_in_use(db: Session, email: str, except_member_id: int | None = None) -> bool:
    """Whether another member already has this (normalized) address."""
    query = select(Member.id).where(Member.email == email)
    if except_member_id is not None:
        query = query.where(Member.id != except_member_id)
    return db.scalar(query.limit(1)) is not None
