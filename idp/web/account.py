"""The member's account pages: overview and sign-out of this browser.

Further sections (profile, security, sessions, connected apps) are their own modules and
templates under templates/account/, linked from the overview.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, session, url_for
from flask_wtf import FlaskForm

from idp.db import get_session
from idp.services import audit
from idp.web.account_access import member_required, signed_in
from idp.web.origin import request_origin

bp = Blueprint("account", __name__, url_prefix="/account")


def account_page(template: str, status: int = 200, **context):
    """Render an account page: personal data, so never cached."""
    response = current_app.make_response(
        (render_template(template, member=signed_in().member, **context), status)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@member_required
def index():
    return account_page("account/index.html", logout_form=FlaskForm())


@bp.post("/logout")
@member_required
def logout():
    form = FlaskForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.index"), 303)
    db = get_session()
    audit.record(db, "sign_out", "success", request_origin(), member_id=signed_in().member.id)
    db.commit()
    # Ends this browser's session on the server, not just the cookie.
    session.destroy()
    return redirect(url_for("home.index"), 303)
