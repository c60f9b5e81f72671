"""Remembered consents: which scopes a member allowed which client."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.clock import utcnow
from idp.models import Client, Consent, Member


def needs_consent(db: Session, member: Member, client: Client, scope: str, prompt_consent: bool) -> bool:
    """First-party clients never ask; others ask unless the member already allowed every
    requested scope (or the client demands a fresh answer with prompt=consent)."""
    if client.first_party:
        return False
    if prompt_consent:
        return True
    consent = _find(db, member, client)
    if consent is None:
        return True
    return not set(scope_to_list(scope) or []).issubset(set(scope_to_list(consent.scope) or []))


def grant_consent(db: Session, member: Member, client: Client, scope: str) -> Consent:
    """Remember the allowed scopes, adding to what was allowed before."""
    consent = _find(db, member, client)
    requested = scope_to_list(scope) or []
    if consent is None:
        consent = Consent(member_id=member.id, client_id=client.client_id, scope=" ".join(requested))
        db.add(consent)
    else:
        merged = list(dict.fromkeys((scope_to_list(consent.scope) or []) + requested))
        consent.scope = " ".join(merged)
        consent.granted_at = utcnow()
        consent.version += 1
    db.flush()
    return consent


def _find(db: Session, member: Member, client: Client) -> Consent | None:
    return db.scalar(select(Consent).where(Consent.member_id == member.id, Consent.client_id == client.client_id))
