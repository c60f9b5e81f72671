"""The hosted pages of one authorization request: the login step and the consent step.

The second-factor step (challenge, emailed codes, recovery codes, enrolment when required)
is in ``idp.web.signin.second_factor``."""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2.rfc6749 import scope_to_list
from flask import Blueprint, redirect, url_for

from idp.clock import utcnow
from idp.db import get_session
from idp.errors import LoginFailed
from idp.extensions import limiter
from idp.i18n import chose_locale_in, follow_flow
from idp.models import Interaction, Member
from idp.models.flows import (
    INTERACTION_CONSENT,
    INTERACTION_LOGIN,
    INTERACTION_READY,
    INTERACTION_SECOND_FACTOR,
)
from idp.oauth.server import get_server
from idp.runtime import settings
from idp.services import assurance, audit, authn, interactions
from idp.services import consent as consent_service
from idp.services import second_factor as factors
from idp.services.lockout import AccountDisabled, AccountLocked
from idp.web.forms import ActionForm, ConsentForm, LoginForm
from idp.web.pages import page
from idp.web.protocol.authorize import answer_held_request, deny
from idp.web.ratelimits import authorize_limit, login_limit
from idp.web.requester import requester
from idp.web.signin.record import current_binding, current_sign_in, privilege_changed, start_sign_in
from idp.web.signin.remember import is_remembered

bp = Blueprint("interaction", __name__, url_prefix="/interaction")


def load_interaction(uid: str) -> Interaction:
    interaction = interactions.load(get_session(), uid, current_binding())
    # The RP's ui_locales stays in force on every page of the request (unless the member
    # chooses another language on one of them).
    follow_flow(interaction.uid, interaction.params.get("ui_locales"))
    return interaction


@bp.get("/<uid>")
@authorize_limit
def show(uid: str):
    interaction = load_interaction(uid)
    if interaction.state == INTERACTION_LOGIN:
        form = LoginForm()
        form.identifier.data = interaction.params.get("login_hint", "")[:254]
        return interaction_page("interaction/login.html", interaction, form=form)
    if interaction.state == INTERACTION_CONSENT:
        return _consent_page(interaction, ConsentForm())
    if interaction.state == INTERACTION_SECOND_FACTOR:
        return redirect(url_for("second_factor.challenge", uid=uid), 303)
    if interaction.state == INTERACTION_READY:
        return redirect(url_for("oidc.resume", uid=uid), 303)
    return redirect(url_for("interaction.show", uid=uid), 303)  # pragma: no cover - states are exhaustive


@bp.post("/<uid>/login")
@limiter.limit(login_limit)
def login(uid: str):
    interaction = load_interaction(uid)
    if interaction.state != INTERACTION_LOGIN:
        return redirect(url_for("interaction.show", uid=uid), 303)
    form = LoginForm()
    if not form.validate_on_submit():
        return interaction_page("interaction/login.html", interaction, form=form, error="login_invalid", status=400)
    db = get_session()
    try:
        member = authn.authenticate_password(
            db, form.identifier.data, form.password.data, requester(), settings().lockout
        )
    except LoginFailed:
        form.password.data = ""
        return interaction_page("interaction/login.html", interaction, form=form, error="login_failed", status=401)
    except AccountDisabled:
        # Only the right password gets here: a wrong one fails as for an unknown identifier.
        form.password.data = ""
        return interaction_page("interaction/login.html", interaction, form=form, error="account_disabled", status=423)
    except AccountLocked as locked:
        # The same page for right and wrong passwords, and for unknown identifiers: it says
        # locked and until when, never how many tries remain.
        form.password.data = ""
        return interaction_page(
            "interaction/login.html", interaction, form=form, error="account_locked", locked=locked, status=423
        )

    after = assurance.after_password(
        interaction.required_acr,
        factors.active_kinds(db, member.id),
        is_remembered(member),
        settings().security.require_mfa,
    )
    if after.challenge:
        # Nothing is issued and no one is signed in until the second factor passes; the
        # interaction (bound to this browser) carries the member to that step.
        interaction.password_verified(member.id)
        privilege_changed(commit=False)
        db.commit()  # the step, the new binding and the lockout's success, together
        return redirect(url_for("second_factor.challenge", uid=uid), 303)

    # A remembered browser stands in for the member's own factor (and security.require_mfa),
    # never for a level a relying party asks for: the sign-in counts as password only.
    start_sign_in(member, utcnow(), assurance.METHOD_PASSWORD, remembered=after.remembered)
    if after.remembered:
        audit.record(db, "second_factor", "remembered", requester(), member_id=member.id)
    interaction.login_completed(member.id, consent_needed_for(db, interaction, member))
    # One commit for the sign-in (the lockout's success, the new binding, the step) and its
    # answer (the code).
    return continue_after_sign_in(interaction, member)


def continue_after_sign_in(interaction: Interaction, member: Member):
    """Commit the step just done, with what follows it: the authorization response itself
    when nothing is left to ask (a request and a redirect fewer per sign-in than through
    resume, and none through the interaction's page: issue 12), or the interaction's next
    page. ``member``: the member signed in (the step's, or the session's)."""
    if interaction.state == INTERACTION_READY:
        return answer_held_request(interaction, member)
    get_session().commit()
    return redirect(url_for("interaction.show", uid=interaction.uid), 303)


@bp.post("/<uid>/consent")
def consent(uid: str):
    interaction = load_interaction(uid)
    signed_in = current_sign_in()
    if interaction.state != INTERACTION_CONSENT or signed_in is None or signed_in.member.id != interaction.member_id:
        return redirect(url_for("interaction.show", uid=uid), 303)
    form = ConsentForm()
    if not form.validate_on_submit():
        return _consent_page(interaction, form, status=400)
    db = get_session()
    if form.deny.data:
        interactions.consume(db, interaction)
        return deny(interaction)
    client = get_server().query_client(interaction.client_id)
    scope = client.get_allowed_scope(interaction.params.get("scope"))
    consent_service.grant_consent(db, signed_in.member, client, scope)
    interaction.consented()
    return continue_after_sign_in(interaction, signed_in.member)


@bp.post("/<uid>/restart")
def restart(uid: str):
    """ "Not you? Start again": this interaction ends (whoever it had fixed after a password is
    forgotten), and the same authorization request starts over at the login, with
    prompt=login and without the relying party's login_hint (which named the wrong account).
    For idp's own account pages, their sign-in again."""
    interaction = load_interaction(uid)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("interaction.show", uid=uid), 303)
    interactions.consume(get_session(), interaction)
    if interaction.client_id is None:
        return redirect(url_for("account.index"), 303)
    prompts = ["login"] + (["consent"] if "consent" in (interaction.params.get("prompt") or "").split() else [])
    dropped = {"login_hint", "prompt"}
    if chose_locale_in(uid):
        # The member chose the language during this request: it stays for its fresh start.
        dropped.add("ui_locales")
    kept = sorted((key, value) for key, value in interaction.params.items() if key not in dropped and value is not None)
    return redirect(f"{url_for('oidc.authorize')}?{urlencode([*kept, ('prompt', ' '.join(prompts))])}", 303)


def consent_needed_for(db, interaction: Interaction, member: Member) -> bool:
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


def _consent_page(interaction: Interaction, form: ConsentForm, status: int = 200):
    client = get_server().query_client(interaction.client_id)
    scopes = scope_to_list(client.get_allowed_scope(interaction.params.get("scope"))) or []
    return interaction_page("interaction/consent.html", interaction, form=form, scopes=scopes, status=status)


def interaction_page(template: str, interaction: Interaction, status: int = 200, **context):
    client = get_server().query_client(interaction.client_id) if interaction.client_id else None
    return page(template, status, interaction=interaction, client=client, **context)
