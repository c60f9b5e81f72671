"""The end_session_endpoint (RP-Initiated Logout 1.0): a relying party sends the member here
to sign out of idp too. With a valid ``id_token_hint`` naming the member signed in here, the
session ends at once; otherwise the member confirms on a page (CSRF protected), so a link on
another site cannot sign anyone out. Then back to the client's registered
``post_logout_redirect_uri`` (with ``state``), or idp's "you are signed out" page.

Ending the session is ``web.signin.record.sign_out`` → ``services.session_end`` (tokens
revoked, back-channel logout queued).
"""

from __future__ import annotations

from authlib.common.urls import add_params_to_uri
from flask import g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SubmitField

from idp.extensions import csrf
from idp.oauth.logout import LogoutRequest, LogoutRequestInvalid, read_logout_request
from idp.services import session_end
from idp.web.pages import page
from idp.web.protocol import bp
from idp.web.signin.record import current_sign_in, sign_out, this_session_sid

# The checked request while the member decides (this module's only session key).
_PENDING_KEY = "pending_logout"


class ConfirmLogoutForm(FlaskForm):
    sign_out = SubmitField(_l("Sign out"))
    stay = SubmitField(_l("Stay signed in"))


@bp.route("/logout", methods=["GET", "POST"])
@csrf.exempt  # RP-Initiated Logout §2: the RP may send the request as a cross-site form POST.
def end_session():
    values = request.values
    repeated = {key for key in values if len(values.getlist(key)) > 1}
    try:
        logout = read_logout_request(values.to_dict(), repeated)
    except LogoutRequestInvalid as refused:
        return page("logout/invalid.html", 400, error=refused.error, description=refused.description)
    g.ui_locales = logout.ui_locales
    signed_in = current_sign_in()
    if signed_in is None and request.method == "POST" and request.form:
        # A cross-site form POST carries no SameSite=Lax session cookie: the same request
        # again as a top-level GET does, so the session it is about is found.
        return redirect(url_for("oidc.end_session", **request.form.to_dict()), 303)
    if signed_in is None:
        return _finished(logout)  # nothing to end here
    hint = logout.hint
    if hint is not None and hint.subject == signed_in.member.subject and hint.sid in (None, this_session_sid()):
        sign_out(session_end.RP_LOGOUT)
        return _finished(logout)
    session[_PENDING_KEY] = logout.as_pending()
    return page("logout/confirm.html", form=ConfirmLogoutForm(), client_name=logout.client_name)


@bp.post("/logout/confirm")
def confirm_end_session():
    pending = session.get(_PENDING_KEY)
    form = ConfirmLogoutForm()
    if pending is None or not form.validate_on_submit():
        # An old page, or a forged post: nothing ends; the member can sign out from here.
        return redirect(url_for("account.index"), 303)
    logout = LogoutRequest.from_pending(pending)
    g.ui_locales = logout.ui_locales
    session.pop(_PENDING_KEY, None)
    if form.stay.data:
        return redirect(url_for("account.index"), 303)
    if current_sign_in() is not None:
        sign_out(session_end.RP_LOGOUT)
    return _finished(logout)


def _finished(logout: LogoutRequest):
    if logout.redirect_uri:
        location = logout.redirect_uri
        if logout.state:
            location = add_params_to_uri(location, {"state": logout.state})
        response = redirect(location, 303)
        response.headers["Cache-Control"] = "no-store"
        return response
    return page("logout/signed_out.html", client_name=logout.client_name)
