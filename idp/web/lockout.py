"""Lockout glue for the hosted pages: the policy from settings and the lock notice mail."""

from __future__ import annotations

from flask import current_app

from idp.models import Member
from idp.services import notifications
from idp.services.lockout import LockoutPolicy, LockStarted
from idp.web.origin import request_origin
from idp.web.ratelimits import allow_mail_to


def lockout_policy() -> LockoutPolicy:
    settings = current_app.extensions["idp.settings"].lockout
    return LockoutPolicy(
        max_failures=settings.max_failures,
        window_seconds=settings.window_seconds,
        base_duration_seconds=settings.base_duration_seconds,
        max_duration_seconds=settings.max_duration_seconds,
        permanent_after=settings.permanent_after,
    )


def password_reset_url() -> str:
    # Always the configured issuer's origin, never the Host header of this request.
    return f"{current_app.extensions['idp.settings'].server.issuer}/recovery/forgot"


def notify_lock_started(member: Member, started: LockStarted) -> None:
    email = notifications.lock_notice(member, started.locked_until, request_origin(), password_reset_url())
    if email is not None and allow_mail_to(f"member:{member.id}"):
        notifications.send(email)
