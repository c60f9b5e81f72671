"""The account overview and signing out of this browser."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_wtf import FlaskForm

from idp.db import get_session
from idp.services import audit
from idp.web.account.access import account_page, member_required, signed_in
from idp.web.account.sessions import describe_browser
from idp.web.requester import requester
from idp.web.signin.record import sign_out

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/")
@member_required
def index():
    member = signed_in().member
    previous = audit.previous_sign_in(get_session(), member.id, signed_in().authentication.auth_time)
    return account_page(
        "account/index.html",
        logout_form=FlaskForm(),
        previous_sign_in=previous,
        previous_browser=describe_browser(previous.user_agent) if previous else None,
    )


@bp.post("/logout")
@member_required
def logout():
    form = FlaskForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.index"), 303)
    db = get_session()
    audit.record(db, "sign_out", "success", requester(), member_id=signed_in().member.id)
    db.commit()
    sign_out()
    return redirect(url_for("home.index"), 303)
