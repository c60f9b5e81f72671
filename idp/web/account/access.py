"""Access to idp's own account pages: a signed-in member, or the hosted sign-in first."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, redirect, request, url_for

from idp.db import get_session
from idp.i18n import remember_time_zone
from idp.runtime import settings
from idp.services import interactions
from idp.web.pages import page
from idp.web.ratelimits import count
from idp.web.signin.record import SignedIn, browser_binding, current_sign_in


def member_required(view: Callable) -> Callable:
    """Run the view with ``g.signed_in`` set; without a sign-in, a GET goes through the hosted
    sign-in (login and second factor, like any client) and comes back here; a POST is refused."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        signed_in = current_sign_in()
        if signed_in is None:
            if request.method != "GET":
                return redirect(url_for("account.index"), 303)
            return start_sign_in_for(request.path)
        g.signed_in = signed_in
        # A zone chosen in another browser applies here too from the next account page on.
        remember_time_zone(signed_in.member.time_zone)
        return view(*args, **kwargs)

    return wrapper


def start_sign_in_for(return_to: str):
    # An anonymous GET that stores a held sign-in: the same per-address budget as /authorize.
    count("authorize_per_ip", request.remote_addr or "", storage_error="allow")
    db = get_session()
    uid = interactions.start(
        db,
        params={},
        client_id=None,
        browser_binding=browser_binding(),
        ttl_seconds=settings().session.interaction_ttl_seconds,
        needs_login=True,
        return_to=return_to,
    )
    db.commit()
    return redirect(url_for("interaction.show", uid=uid), 303)


def signed_in() -> SignedIn:
    return g.signed_in


def account_page(template: str, status: int = 200, **context):
    """An account page: the signed-in member's personal data, never cached."""
    context.setdefault("member", signed_in().member)
    return page(template, status, **context)
