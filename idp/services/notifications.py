"""The messages idp mails to members, rendered in the member's language.

Each message is email/<name>.txt and .html under templates/, composed by ``_compose``: the
subject and any context value given as a function are evaluated in the member's language,
since dates and words depend on it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime

from flask import render_template
from flask_babel import force_locale, gettext

from idp.clock import utcnow
from idp.i18n import clock_time_in
from idp.models import Member
from idp.models.lockout import SECOND_FACTOR_FAILURES
from idp.runtime import runtime
from idp.security.tokens import digest
from idp.services import outbound
from idp.services.audit import RequestOrigin
from idp.services.mailer import Email

log = logging.getLogger("idp.mail")

# --- sending, within the recipients' mail budgets ----------------------------------------------


def send(email: Email | None) -> None:
    """Queue the mail, whatever the budget (what the member must always get, like the notice of
    a password change). The queue's worker sends it, and tries again while the mail server is
    away. Callers queue mail after committing what it tells of."""
    if email is not None:
        outbound.enqueue("mail", dataclasses.asdict(email))


def deliver(payload: dict) -> None:
    """The queue's handler for "mail": hand the message to the mailer (raises to be retried)."""
    runtime().mailer.send(Email(**payload))


def send_within_budget(email: Email | None, budget: Budget) -> bool:
    """Send unless the recipient's budget for this purpose is used up; then the mail is dropped
    silently (the page answers the same either way). True when it went out. Security notices
    never come here: ``send_notice``."""
    if email is None:
        return False
    mail_budget = runtime().mail_budget
    if mail_budget is not None and not mail_budget.allow(budget.key, budget.limit):
        return False
    send(email)
    return True


@dataclasses.dataclass(frozen=True)
class Budget:
    """One recipient's budget for one purpose: its key in the rate-limit storage and the
    ``ratelimit`` setting that sizes it. Each purpose has its own, so mail anyone can cause
    (a reset link) never uses up mail only the member can cause (a code after their password)."""

    key: str
    limit: str


def member_budget(member_id: int) -> Budget:
    """Reset links: anyone who knows the member's email or membership number can ask for one."""
    return Budget(f"member:{member_id}:reset", "email_per_identifier")


def code_budget(member_id: int) -> Budget:
    """Emailed sign-in codes: only asked for after the right password (or on the account
    pages), so nobody without it can use this budget up."""
    return Budget(f"member:{member_id}:code", "email_codes_per_member")


def address_budget(address: str) -> Budget:
    """Mail to an address that is not (yet) an account's: verification links, in-use notices."""
    return Budget(f"address:{digest(address)}", "email_per_identifier")


def send_notice(email: Email | None, member: Member, notice: str) -> bool:
    """A security notice (lock started, password or email changed, factor added or removed):
    never dropped by a budget, since every budget an attacker could fill would silence it.
    (What can cause one in bulk is bounded already: a lock notice needs max_failures failures
    and the lock itself lasts.) When it cannot be sent (the member has no address) that is
    recorded in the audit trail and logged. True when queued."""
    if email is not None:
        send(email)
        return True
    from idp.db import get_session
    from idp.services import audit

    log.warning("security notice not sent: no address", extra={"notice": notice, "member_id": member.id})
    db = get_session()
    audit.record(db, "security_notice", "not_sent", member_id=member.id, notice=notice, reason="no_address")
    db.commit()
    return False


def forgot_password_url() -> str:
    # Always the configured issuer's origin, never the Host header of this request.
    return f"{runtime().settings.server.issuer}/recovery/forgot"


def lock_started(member: Member, kind: str, started, origin: RequestOrigin) -> None:
    """A lock started on the member's account: tell them, from where, and how to recover.
    (The lockout guard calls this; ``started`` is its LockStarted.)"""
    if kind == SECOND_FACTOR_FAILURES:
        send_notice(second_factor_lock_notice(member, started.locked_until, origin), member, "second_factor_lock")
    else:
        send_notice(lock_notice(member, started.locked_until, origin, forgot_password_url()), member, "lock")


def factor_notice(member: Member, change: str, kind: str | None, origin: RequestOrigin | None) -> None:
    send_notice(factor_changed(member, change, kind, origin), member, f"second_factor_{change}")


# --- the messages -----------------------------------------------------------------------------


def _compose(
    to: str,
    locale: str,
    template: str,
    mail_purpose: str,
    subject: Callable[[], str],
    origin: RequestOrigin | None = None,
    time_zone: str | None = None,
    **context,
) -> Email:
    """``time_zone``: the recipient's (a member's), for the times in the mail; None for the
    configured default."""
    with force_locale(locale):
        values = {name: value() if callable(value) else value for name, value in context.items()}
        values["occurred_text"] = clock_time_in(utcnow(), time_zone, locale)
        if origin is not None:
            values["ip_address"] = origin.ip_address
            values["user_agent"] = origin.user_agent
        return Email(
            to=to,
            subject=subject(),
            text=render_template(f"email/{template}.txt", **values),
            html=render_template(f"email/{template}.html", **values),
            purpose=mail_purpose,
        )


def _to_member(
    member: Member,
    template: str,
    mail_purpose: str,
    subject: Callable[[], str],
    origin: RequestOrigin | None = None,
    **context,
) -> Email | None:
    """A message to the member's own address, in their language; None without an address."""
    if not member.email:
        return None
    return _compose(
        member.email,
        member.locale,
        template,
        mail_purpose,
        subject,
        origin,
        time_zone=member.time_zone,
        member=member,
        **context,
    )


def _until_text(member: Member, locked_until: datetime | None) -> Callable[[], str]:
    return lambda: (
        clock_time_in(locked_until, member.time_zone, member.locale)
        if locked_until
        else gettext("until support unlocks it")
    )


def lock_notice(member: Member, locked_until: datetime | None, origin: RequestOrigin, reset_url: str) -> Email | None:
    """Tell the member their account was locked, from where, and how to recover."""
    return _to_member(
        member,
        "lock_notice",
        "lock_notice",
        lambda: gettext("Your account has been locked for a while"),
        origin,
        locked_until_text=_until_text(member, locked_until),
        reset_url=reset_url,
    )


def reset_link(member: Member, token: str, ttl_seconds: int) -> Email | None:
    # The configured issuer's origin, never this request's Host header.
    link = f"{runtime().settings.server.issuer}/recovery/reset/{token}"
    return _to_member(
        member,
        "reset_link",
        "password_reset_link",
        lambda: gettext("Reset your password"),
        link=link,
        minutes=ttl_seconds // 60,
    )


def password_changed(member: Member, origin: RequestOrigin) -> Email | None:
    return _to_member(
        member, "password_changed", "password_changed", lambda: gettext("Your password was changed"), origin
    )


def email_code(
    member: Member, code: str, requested_by: str | None, ttl_seconds: int, origin: RequestOrigin
) -> Email | None:
    """A one-time sign-in code, saying which site asked for it and when. ``requested_by`` is the
    client's name (None: idp's own account pages)."""
    return _to_member(
        member,
        "email_code",
        "email_code",
        lambda: gettext("Your sign-in code"),
        origin,
        code=code,
        requested_by=requested_by,
        minutes=max(ttl_seconds // 60, 1),
    )


# What changed, for factor_changed: the page and the mail say it in words.
FACTOR_ENROLLED = "enrolled"
FACTOR_REMOVED = "removed"
RECOVERY_CODES_REGENERATED = "recovery_codes"
FACTORS_RESET = "reset"

_FACTOR_SUBJECTS = {
    FACTOR_ENROLLED: lambda: gettext("A second factor was added to your account"),
    FACTOR_REMOVED: lambda: gettext("A second factor was removed from your account"),
    RECOVERY_CODES_REGENERATED: lambda: gettext("New recovery codes were made for your account"),
    FACTORS_RESET: lambda: gettext("The second factors of your account were removed by support"),
}


def factor_changed(member: Member, change: str, kind: str | None, origin: RequestOrigin | None) -> Email | None:
    """Tell the member a second factor was added or removed, recovery codes were replaced, or
    support removed every factor."""
    subject = _FACTOR_SUBJECTS[change]
    origin = origin or RequestOrigin()
    return _to_member(member, "factor_changed", f"second_factor_{change}", subject, origin, change=change, kind=kind)


def second_factor_lock_notice(member: Member, locked_until: datetime | None, origin: RequestOrigin) -> Email | None:
    """The password was right but the second factor failed too often: the password is likely
    known to someone else."""
    subject = lambda: gettext("Someone entered your password but not your second factor")  # noqa: E731
    return _to_member(
        member,
        "second_factor_lock",
        "second_factor_lock_notice",
        subject,
        origin,
        locked_until_text=_until_text(member, locked_until),
    )


# --- email verification: self-activation and email change --------------------------------


# Where each purpose's verification link leads (a page on the issuer's own origin).
_VERIFICATION_PATHS = {"activation": "/activate/verify/", "email_change": "/account/profile/email/verify/"}


def verify_email(member: Member, address: str, token: str, ttl_seconds: int, purpose: str) -> Email:
    """The single-use link that proves ``address`` is the member's: to finish self-activation
    (purpose "activation") or to confirm a new address (purpose "email_change"). Sent to
    ``address`` itself, which is not yet the member's email. The link uses the configured
    issuer's origin, never a request's Host header."""
    link = f"{runtime().settings.server.issuer}{_VERIFICATION_PATHS[purpose]}{token}"
    return _compose(
        address,
        member.locale,
        "verify_email",
        f"{purpose}_link",
        lambda: (
            gettext("Finish activating your account")
            if purpose == "activation"
            else gettext("Confirm your new email address")
        ),
        member=member,
        link=link,
        hours=max(1, ttl_seconds // 3600),
        purpose=purpose,
    )


def activation_retried(member: Member, address: str, expires_at: datetime, origin: RequestOrigin) -> Email:
    """To the address of a pending activation: someone entered the membership record again
    to activate it; nothing was changed, the link mailed here still works until it expires."""
    return _compose(
        address,
        member.locale,
        "activation_retried",
        "activation_retried",
        lambda: gettext("Someone tried to activate your account again"),
        origin,
        member=member,
        expires_text=lambda: clock_time_in(expires_at, member.time_zone, member.locale),
    )


def address_in_use(owner: Member, address: str, purpose: str, forgot_url: str) -> Email:
    """Sent to an address someone tried to use for another account (activation or email
    change) instead of a link: the page answered as usual, so the address's owner learns of
    it here, and nobody learns from the page that the address has an account."""
    return _compose(
        address,
        owner.locale,
        "address_in_use",
        "address_in_use",
        lambda: gettext("This email address already has an account"),
        time_zone=owner.time_zone,
        purpose=purpose,
        forgot_url=forgot_url,
    )


def email_change_notice(member: Member, old_address: str, new_address: str, origin: RequestOrigin) -> Email:
    """To the current address when a change to another one is requested: nothing changes
    until the new address is confirmed, and the member can react if it was not them."""
    return _compose(
        old_address,
        member.locale,
        "email_change_notice",
        "email_change_notice",
        lambda: gettext("A change of your email address was requested"),
        origin,
        time_zone=member.time_zone,
        member=member,
        new_address=mask_email(new_address),
    )


def mask_email(address: str | None) -> str:
    """``b***@example.test``: enough to recognise one's own address, not to copy it."""
    if not address or "@" not in address:
        return ""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
