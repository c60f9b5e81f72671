"""The sign-in record of this browser, kept in the server-side session: who signed in, when,
how (acr, amr), whether a remembered browser stood in for the second factor, and when a second
factor last passed. The only module that reads or writes these session keys:

    binding           ties pending interactions to this browser (renewed at every rotation,
                      the interactions following it: see ``_renew_binding``)
    member_id         the member signed in
    auth_time         when they signed in (max_age and ID tokens count from it)
    acr, amr          the level reached and the methods used (RFC 8176)
    remembered        a "remember this browser" cookie stood in for the second factor
    second_factor_at  when a second factor last passed here (the account pages' fresh check)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import session

from idp import i18n
from idp.clock import utcnow
from idp.db import get_session
from idp.models import Member
from idp.models.authentication import AuthenticationContext
from idp.security.tokens import random_token
from idp.services import browser_sessions, interactions, members, session_end
from idp.services.assurance import METHOD_PASSWORD, METHODS


@dataclass(frozen=True)
class SignedIn:
    member: Member
    authentication: AuthenticationContext
    # A remembered browser stood in for the member's own second factor at sign-in.
    remembered: bool
    second_factor_at: datetime | None


def current_sign_in(just_signed_in: Member | None = None) -> SignedIn | None:
    """This browser's sign-in, or None. ``just_signed_in``: the member a step of this request
    signed in, already loaded (not read again)."""
    member_id = session.get("member_id")
    if member_id is None:
        return None
    if just_signed_in is not None and just_signed_in.id == member_id:
        member = just_signed_in
    else:
        member = members.find_by_id(get_session(), member_id)
    if member is None or not member.can_sign_in:
        return None
    passed = session.get("second_factor_at")
    return SignedIn(
        member=member,
        authentication=AuthenticationContext(
            auth_time=datetime.fromtimestamp(session["auth_time"], tz=UTC),
            acr=session.get("acr"),
            amr=tuple(session.get("amr", ())),
            sid=this_session_sid(),
        ),
        remembered=bool(session.get("remembered")),
        second_factor_at=datetime.fromtimestamp(passed, tz=UTC) if isinstance(passed, int) else None,
    )


def start_sign_in(member: Member, auth_time: datetime, method: str, remembered: bool = False) -> None:
    """Record a sign-in that ``method`` completed (its acr and amr), and rotate the session id:
    a privilege change (ASVS V3.2.1). ``remembered``: a remembered browser stood in for the
    second factor after a password. The caller commits (the interactions moved to the new
    binding, with the interaction's own step)."""
    binding = _renew_binding(commit=False)
    achieved = METHODS[method]
    language = i18n.carried_over()
    sid = browser_sessions.sid_after_sign_in(this_session_sid(), session.get("member_id"), member.id)
    session.clear()
    session["binding"] = binding
    session["member_id"] = member.id
    session["auth_time"] = int(auth_time.timestamp())
    session["amr"] = list(achieved.amr)
    session["acr"] = achieved.acr
    if remembered:
        session["remembered"] = True
    if method != METHOD_PASSWORD:
        session["second_factor_at"] = int(utcnow().timestamp())
    # The member's language and time zone become the pages' (a language chosen in this
    # browser with the switch stays; a relying party's ui_locales still applies to its flow).
    i18n.signed_in(member.locale, member.time_zone, language)
    # The sid is known now, so the authorization this sign-in completes can be answered in the
    # same request (its code names the session, as the ID token's sid will).
    session.rotate(sid=sid)


def second_factor_passed() -> None:
    """A second factor passed for the signed-in session (the account pages' check): a
    privilege change, so a new session id."""
    session["second_factor_at"] = int(utcnow().timestamp())
    privilege_changed()


def privilege_changed(commit: bool = True) -> None:
    """A step that proves more about the browser passed (the password, before the second
    factor): a new session id, so one fixed before cannot ride along (ASVS V3.2.1).
    ``commit=False``: the caller commits the interactions moved to the new binding."""
    _renew_binding(commit=commit)
    session.rotate()


def _renew_binding(commit: bool = True) -> str:
    """A new binding for this browser, its pending interactions moved to it (``commit=False``:
    the caller commits the move). An anonymous browser's session is a signed cookie
    (``web.server_session``), which rotating cannot revoke: a copy fixed before keeps the old
    binding, which then holds nothing."""
    old = session.get("binding")
    new = random_token(24)
    session["binding"] = new
    if old:
        interactions.rebind(get_session(), old, new, commit=commit)
    return new


def browser_binding() -> str:
    """A random value tying pending interactions to this browser; made on first need, renewed
    at every rotation (``_renew_binding``)."""
    binding = session.get("binding")
    if binding is None:
        binding = random_token(24)
        session["binding"] = binding
    return binding


def current_binding() -> str | None:
    """This browser's binding if it has one (never makes one)."""
    return session.get("binding")


def this_session_record_id() -> int | None:
    """The stored session's row id (None before it is first saved)."""
    return getattr(session, "record_id", None)


def this_session_sid() -> str | None:
    """The stored session's public id (the ID token's ``sid``; never the cookie value)."""
    return getattr(session, "sid", None)


def password_replaced() -> None:
    """The password was changed from this browser, which stays signed in: a new session id
    and a new public sid (what the old sid gave relying parties has ended)."""
    session.rotate(new_sid=True)


def forget_ended_session() -> None:
    """This browser's session was already ended on the server (by ``services.session_end``,
    through the account pages): drop it and its cookie, without ending it twice."""
    session.destroy()


def sign_out(reason: str = session_end.SIGNED_OUT) -> None:
    """End this browser's session on the server, not just the cookie: its tokens are revoked
    and its relying parties told (``services.session_end``). Commits."""
    member_id = session.get("member_id")
    if member_id is not None:
        db = get_session()
        session_end.session_ended(db, this_session_sid(), member_id, reason)
        db.commit()
    session.destroy()
