"""The provider's own landing page."""

from __future__ import annotations

from flask import Blueprint, render_template

from idp.web.signin.record import current_sign_in

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    return render_template("home.html", signed_in=current_sign_in())
