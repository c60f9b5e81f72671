"""The hosted pages of one authorization request: the login step and the consent step."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import scope_to_list
from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from idp.clock import utcnow
from idp.db import get_session
from idp.errors import LoginFailed
from idp.models.authentication import ACR_PASSWORD
from idp.models.flows import INTERACTION_CONSENT, INTERACTION_LOGIN, INTERACTION_READY
from idp.oauth.server import get_server
from idp.extensions import limiter
from idp.services import authn, interactions
from idp.services.lockout import AccountLocked
from idp.services import consent as consent_service
from idp.web import oidc
from idp.web.forms import ConsentForm, LoginForm
from idp.web.lockout import lockout_policy, notify_lock_started
from idp.web.origin import request_origin
from idp.web.ratelimits import login_limit
from idp.web.signin import current_sign_in, start_sign_in

bp = Blueprint("interaction", __name__, url_prefix="/interaction")


def _load(uid: str):
    interaction = interactions.load(get_session(), uid, session.get("binding"))
    # The RP's ui_locales stays in force on every page of the request.
    g.ui_locales = interaction.params.get("ui_locales")
    return interaction


@bp.get("/<uid>")
def show(uid: str):
    interaction = _load(uid)
    if interaction.state == INTERACTION_LOGIN:
        form = LoginForm()
        form.identifier.data = interaction.params.get("login_hint", "")[:254]
        return _page("interaction/login.html", interaction, form=form)
    if interaction.state == INTERACTION_CONSENT:
        return _consent_page(interaction, ConsentForm())
    if interaction.state == INTERACTION_READY:
        return redirect(url_for("oidc.resume", uid=uid), 303)
    return redirect(url_for("interaction.show", uid=uid), 303)  # pragma: no cover - states are exhaustive


@bp.post("/<uid>/login")
@limiter.limit(login_limit)
def login(uid: str):
    interaction = _load(uid)
    if interaction.state != INTERACTION_LOGIN:
        return redirect(url_for("interaction.show", uid=uid), 303)
    form = LoginForm()
    if not form.validate_on_submit():
        return _page("interaction/login.html", interaction, form=form, error="login_invalid", status=400)
    db = get_session()
    try:
        member = authn.authenticate_password(
            db,
            form.identifier.data,
            form.password.data,
            request_origin(),
            lockout_policy(),
            on_lock_started=notify_lock_started,
        )
    except LoginFailed:
        form.password.data = ""
        return _page("interaction/login.html", interaction, form=form, error="login_failed", status=401)
    except AccountLocked as locked:
        # The same page for right and wrong passwords, and for unknown identifiers: it says
        # locked and until when, never how many tries remain.
        form.password.data = ""
        return _page(
            "interaction/login.html", interaction, form=form, error="account_locked", locked=locked, status=423
        )

    start_sign_in(member, utcnow(), amr=["pwd"], acr=ACR_PASSWORD)
    consent_needed = _consent_needed(db, interaction, member)
    interactions.login_completed(interaction, consent_needed)
    interaction.member_id = member.id
    db.commit()
    return redirect(url_for("interaction.show", uid=uid), 303)


@bp.post("/<uid>/consent")
def consent(uid: str):
    interaction = _load(uid)
    signed_in = current_sign_in()
    if interaction.state != INTERACTION_CONSENT or signed_in is None or signed_in.member.id != interaction.member_id:
        return redirect(url_for("interaction.show", uid=uid), 303)
    form = ConsentForm()
    if not form.validate_on_submit():
        return _consent_page(interaction, form, status=400)
    db = get_session()
    if form.deny.data:
        interactions.consume(db, interaction)
        return oidc.deny(interaction)
    client = get_server().query_client(interaction.client_id)
    scope = client.get_allowed_scope(interaction.params.get("scope"))
    consent_service.grant_consent(db, signed_in.member, client, scope)
    interactions.consent_given(interaction)
    db.commit()
    return redirect(url_for("oidc.resume", uid=uid), 303)


def _consent_needed(db, interaction, member) -> bool:
    if interaction.client_id is None:
        return False  # idp's own account pages ask for no consent
    client = get_server().query_client(interaction.client_id)
    return consent_service.needs_consent(
        db,
        member,
        client,
        client.get_allowed_scope(interaction.params.get("scope")),
        "consent" in (interaction.params.get("prompt") or "").split(),
    )


def _consent_page(interaction, form: ConsentForm, status: int = 200):
    client = get_server().query_client(interaction.client_id)
    scopes = scope_to_list(client.get_allowed_scope(interaction.params.get("scope"))) or []
    return _page("interaction/consent.html", interaction, form=form, scopes=scopes, status=status)


def _page(template: str, interaction, status: int = 200, **context):
    client = get_server().query_client(interaction.client_id) if interaction.client_id else None
    response = current_app.make_response(
        (render_template(template, interaction=interaction, client=client, **context), status)
    )
    response.headers["Cache-Control"] = "no-store"
    return response
