"""The messages idp mails to members, rendered in the member's language."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, render_template
from flask_babel import force_locale, format_datetime, gettext

from idp.clock import utcnow
from idp.models import Member
from idp.services.audit import RequestOrigin
from idp.services.mailer import Email


def send(email: Email) -> None:
    current_app.extensions["idp.mailer"].send(email)


def lock_notice(member: Member, locked_until: datetime | None, origin: RequestOrigin, reset_url: str) -> Email | None:
    """Tell the member their account was locked, from where, and how to recover."""
    if not member.email:
        return None
    with force_locale(member.locale):
        context = {
            "member": member,
            "locked_until_text": format_datetime(locked_until, "medium")
            if locked_until
            else gettext("until support unlocks it"),
            "occurred_text": format_datetime(utcnow(), "medium"),
            "ip_address": origin.ip_address,
            "user_agent": origin.user_agent,
            "reset_url": reset_url,
        }
        return Email(
            to=member.email,
            subject=gettext("Your account has been locked for a while"),
            text=render_template("email/lock_notice.txt", **context),
            html=render_template("email/lock_notice.html", **context),
            purpose="lock_notice",
        )


def reset_link(member: Member, link: str, ttl_seconds: int) -> Email | None:
    if not member.email:
        return None
    with force_locale(member.locale):
        context = {"member": member, "link": link, "minutes": ttl_seconds // 60}
        return Email(
            to=member.email,
            subject=gettext("Reset your password"),
            text=render_template("email/reset_link.txt", **context),
            html=render_template("email/reset_link.html", **context),
            purpose="password_reset_link",
        )


def password_changed(member: Member, origin: RequestOrigin) -> Email | None:
    if not member.email:
        return None
    with force_locale(member.locale):
        context = {
            "member": member,
            "occurred_text": format_datetime(utcnow(), "medium"),
            "ip_address": origin.ip_address,
            "user_agent": origin.user_agent,
        }
        return Email(
            to=member.email,
            subject=gettext("Your password was changed"),
            text=render_template("email/password_changed.txt", **context),
            html=render_template("email/password_changed.html", **context),
            purpose="password_changed",
        )
