"""The "remember this browser" cookie: skips the second factor at sign-in for a while.

Its value is signed (itsdangerous, with the app secret) and holds only the member's
``security_epoch`` and an expiry: nothing personal. The member it belongs to is bound by the
signing salt, which includes the member's opaque subject, so the cookie verifies for that
member only. Raising ``security_epoch`` (password reset, removing a factor, an operator's
reset) makes every such cookie of the member stop working.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from idp.clock import utcnow
from idp.models import Member
from idp.runtime import settings

SALT_PREFIX = "idp:remember-browser:"


def cookie_name() -> str:
    return "__Host-idp_remember" if settings().issuer_is_https else "idp_remember"


def remember_days() -> int:
    return settings().security.remember_browser_days


def _serializer(member: Member) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"{SALT_PREFIX}{member.subject}")


def is_remembered(member: Member) -> bool:
    """Whether this browser carries a valid cookie for this member (and the feature is on)."""
    if remember_days() <= 0:
        return False
    value = request.cookies.get(cookie_name())
    if not value or len(value) > 200:
        return False
    try:
        payload = _serializer(member).loads(value)
    except BadSignature:
        return False
    if not isinstance(payload, dict):
        return False
    expires = payload.get("x")
    return (
        payload.get("e") == member.security_epoch and isinstance(expires, int) and expires > int(utcnow().timestamp())
    )


def remember(response: Response, member: Member) -> None:
    days = remember_days()
    if days <= 0:
        return
    expires = utcnow() + timedelta(days=days)
    value = _serializer(member).dumps({"e": member.security_epoch, "x": int(expires.timestamp())})
    response.set_cookie(
        cookie_name(),
        value,
        max_age=days * 86400,
        httponly=True,
        secure=settings().issuer_is_https,
        samesite="Lax",
        path="/",
    )
