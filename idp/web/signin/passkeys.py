"""Passkeys on the hosted pages: the relying party (from the configured issuer, never the
Host header), the ceremony options the browser's script asks for (base64url JSON, never
cached), and the sign-in without a password on the login step.

    POST /interaction/<uid>/passkey-sign-in/options   get() options: any discoverable passkey
    POST /interaction/<uid>/passkey-sign-in           the browser's answer: sign in

The ceremony runs in static/passkeys.js (the CSP allows no inline script); the answer comes
back in an ordinary form post (CSRF token, Origin check), so every outcome is a page or a
303 like the password's. The password form keeps working without the script.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, url_for

from idp.clock import utcnow
from idp.db import get_session
from idp.extensions import limiter
from idp.models.flows import INTERACTION_LOGIN
from idp.runtime import settings
from idp.services import assurance, passkeys
from idp.services import second_factor as factors
from idp.services.lockout import AccountLocked
from idp.web.forms import LoginForm, PasskeyAnswerForm
from idp.web.ratelimits import login_limit
from idp.web.requester import requester
from idp.web.signin.interaction import consent_needed_for, continue_after_sign_in, interaction_page, load_interaction
from idp.web.signin.record import start_sign_in

bp = Blueprint("passkeys", __name__, url_prefix="/interaction")


def relying_party() -> passkeys.RelyingParty:
    """idp as a WebAuthn relying party: the issuer's host is the RP id, its origin the only
    one accepted; the name members see is the one authenticator apps show."""
    current = settings()
    return passkeys.relying_party(current.server.issuer, current.security.totp_issuer_name)


def options_response(options_json: str) -> Response:
    response = Response(options_json, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def refused_options() -> Response:
    response = Response('{"error": "not_now"}', status=409, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<uid>/passkey-sign-in/options")
@limiter.limit(login_limit)
def sign_in_options(uid: str):
    interaction = load_interaction(uid)
    if interaction.state != INTERACTION_LOGIN:
        return refused_options()
    return options_response(
        passkeys.authentication_options(get_session(), relying_party(), passkeys.CHALLENGE_SIGN_IN, interaction.uid)
    )


@bp.post("/<uid>/passkey-sign-in")
@limiter.limit(login_limit)
def sign_in(uid: str):
    interaction = load_interaction(uid)
    if interaction.state != INTERACTION_LOGIN:
        return redirect(url_for("interaction.show", uid=uid), 303)
    form = PasskeyAnswerForm()
    if not form.validate_on_submit():
        return _login_page(interaction, "passkey_failed", status=400)
    db = get_session()
    try:
        result = factors.sign_in_with_passkey(
            db, relying_party(), form.code.data, interaction.uid, settings().lockout, requester()
        )
    except AccountLocked as locked:
        return _login_page(interaction, "account_locked", status=423, locked=locked)
    if result.member is None:
        return _login_page(interaction, "passkey_failed", status=401)
    member = result.member
    # A passkey with user verification is a whole sign-in on its own, at the highest level.
    start_sign_in(member, utcnow(), assurance.METHOD_PASSKEY_SIGN_IN)
    interaction.login_completed(member.id, consent_needed_for(db, interaction, member))
    return continue_after_sign_in(interaction, member)  # commits


def _login_page(interaction, error: str, status: int, **context):
    form = LoginForm(formdata=None)
    form.identifier.data = interaction.params.get("login_hint", "")[:254]
    return interaction_page("interaction/login.html", interaction, form=form, error=error, status=status, **context)
