"""The member signed in to this browser, as recorded in the server-side session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import session
from sqlalchemy import select

from idp.db import get_session
from idp.models import Member
from idp.models.authentication import AuthenticationContext
from idp.security.tokens import random_token


@dataclass(frozen=True)
class SignedIn:
    member: Member
    authentication: AuthenticationContext


def current_sign_in() -> SignedIn | None:
    member_id = session.get("member_id")
    if member_id is None:
        return None
    member = get_session().scalar(select(Member).where(Member.id == member_id))
    if member is None or not member.can_sign_in:
        return None
    return SignedIn(
        member=member,
        authentication=AuthenticationContext(
            auth_time=datetime.fromtimestamp(session["auth_time"], tz=UTC),
            acr=session.get("acr"),
            amr=tuple(session.get("amr", ())),
            sid=getattr(session, "sid", None),
        ),
    )


def start_sign_in(member: Member, auth_time: datetime, amr: list[str], acr: str) -> None:
    """Record the sign-in and rotate the session id (privilege change, ASVS V3.2.1)."""
    binding = browser_binding()
    session.clear()
    session["binding"] = binding
    session["member_id"] = member.id
    session["auth_time"] = int(auth_time.timestamp())
    session["amr"] = amr
    session["acr"] = acr
    # The member's language becomes the pages' language (unless an RP asks otherwise).
    session["locale"] = member.locale
    session.rotate()


def browser_binding() -> str:
    """A random value tying pending interactions to this browser; kept across rotation."""
    binding = session.get("binding")
    if binding is None:
        binding = random_token(24)
        session["binding"] = binding
    return binding
