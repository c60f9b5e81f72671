"""Forgot password: ask for a link, then choose a new password through it."""

from __future__ import annotations

import re

from flask import Blueprint, request, session

from idp.db import get_session
from idp.extensions import limiter
from idp.runtime import settings
from idp.services import recovery
from idp.services.members import InvalidPassword
from idp.services.recovery import ResetLinkUnusable
from idp.web.forms import ForgotPasswordForm, NewPasswordForm
from idp.web.pages import page
from idp.web.ratelimits import forgot_password_limit, link_limit
from idp.web.requester import requester

bp = Blueprint("recovery", __name__, url_prefix="/recovery")


# The sign-in this browser came from (an interaction uid, from the login page's link): every
# page of the reset offers the way back to it, so the member ends up at the service they
# were signing in to. Only a way back: the interaction itself is checked when it is opened.
_RETURN_KEY = "recovery_return_flow"
_UID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _page(template: str, status: int = 200, **context):
    # The reset link is a secret in the URL: keep it out of caches and Referer headers.
    flow = session.get(_RETURN_KEY)
    return page(template, status, secret_in_url=True, return_flow=flow if isinstance(flow, str) else None, **context)


@bp.get("/forgot")
def forgot():
    flow = request.args.get("flow", "")
    if _UID.fullmatch(flow):
        session[_RETURN_KEY] = flow
    return _page("recovery/forgot.html", form=ForgotPasswordForm())


@bp.post("/forgot")
@limiter.limit(forgot_password_limit)
def forgot_submit():
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return _page("recovery/forgot.html", form=form, status=400)
    recovery.request_reset(form.identifier.data, settings().recovery.reset_token_ttl_seconds, requester())
    # The same page whether or not an account exists, and whether or not mail went out.
    return _page("recovery/sent.html")


@bp.get("/reset/<token>")
@link_limit
def reset(token: str):
    # A GET consumes nothing: mail scanners that open links must not burn them.
    try:
        recovery.check_reset_token(get_session(), token)
    except ResetLinkUnusable:
        return _page("recovery/unusable.html", status=400)
    return _reset_page(NewPasswordForm(), token)


def _reset_page(form: NewPasswordForm, token: str, status: int = 200, **context):
    return _page(
        "recovery/reset.html", status, form=form, token=token, min_length=settings().passwords.min_length, **context
    )


@bp.post("/reset/<token>")
@limiter.limit(forgot_password_limit)
def reset_submit(token: str):
    db = get_session()
    form = NewPasswordForm()
    try:
        recovery.check_reset_token(db, token)
        if not form.validate_on_submit():
            return _reset_page(form, token, status=400)
        recovery.reset_password(db, token, form.password.data, requester(), settings().passwords.min_length)
    except ResetLinkUnusable:
        return _page("recovery/unusable.html", status=400)
    except InvalidPassword as rejected:
        return _reset_page(form, token, status=400, rejected=rejected.reason)
    return _page("recovery/done.html")
