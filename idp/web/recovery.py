"""Forgot password: ask for a link, then choose a new password through it."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from idp.db import get_session
from idp.extensions import limiter
from idp.services import notifications, recovery
from idp.services.members import InvalidPassword
from idp.services.recovery import ResetLinkUnusable
from idp.web.forms import ForgotPasswordForm, NewPasswordForm
from idp.web.origin import request_origin
from idp.web.ratelimits import allow_mail_to, forgot_password_limit

bp = Blueprint("recovery", __name__, url_prefix="/recovery")


def _settings():
    return current_app.extensions["idp.settings"]


def _page(template: str, status: int = 200, **context):
    response = current_app.make_response((render_template(template, **context), status))
    # The reset link is a secret in the URL: keep it out of caches and Referer headers.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/forgot")
def forgot():
    return _page("recovery/forgot.html", form=ForgotPasswordForm())


@bp.post("/forgot")
@limiter.limit(forgot_password_limit)
def forgot_submit():
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return _page("recovery/forgot.html", form=form, status=400)
    db = get_session()
    requested = recovery.request_reset(
        db, form.identifier.data, _settings().recovery.reset_token_ttl_seconds, request_origin()
    )
    if requested is not None and allow_mail_to(f"member:{requested.member.id}"):
        # The link uses the configured issuer's origin, never this request's Host header.
        link = f"{_settings().server.issuer}/recovery/reset/{requested.token}"
        notifications.send(notifications.reset_link(requested.member, link, _settings().recovery.reset_token_ttl_seconds))
    # The same page whether or not an account exists, and whether or not mail went out.
    return _page("recovery/sent.html")


@bp.get("/reset/<token>")
def reset(token: str):
    # A GET consumes nothing: mail scanners that open links must not burn them.
    try:
        recovery.check_reset_token(get_session(), token)
    except ResetLinkUnusable:
        return _page("recovery/unusable.html", status=400)
    return _page("recovery/reset.html", form=NewPasswordForm(), token=token, min_length=_min_length())


@bp.post("/reset/<token>")
@limiter.limit(forgot_password_limit)
def reset_submit(token: str):
    db = get_session()
    form = NewPasswordForm()
    try:
        recovery.check_reset_token(db, token)
        if not form.validate_on_submit():
            return _page("recovery/reset.html", form=form, token=token, min_length=_min_length(), status=400)
        member = recovery.reset_password(db, token, form.password.data, request_origin(), _min_length())
    except ResetLinkUnusable:
        return _page("recovery/unusable.html", status=400)
    except InvalidPassword as rejected:
        return _page(
            "recovery/reset.html",
            form=form,
            token=token,
            min_length=_min_length(),
            rejected=rejected.reason,
            status=400,
        )
    email = notifications.password_changed(member, request_origin())
    if email is not None:
        notifications.send(email)
    return _page("recovery/done.html")


def _min_length() -> int:
    return _settings().passwords.min_length
