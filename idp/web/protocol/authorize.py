"""The authorization endpoint: answer at once (SSO) or hold the request in an interaction while
the member signs in and consents, then answer it once (resume)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import redirect, request, url_for

from idp.db import get_session
from idp.extensions import csrf
from idp.models.flows import INTERACTION_READY
from idp.oauth.server import StoredAuthorizationRequest, get_server
from idp.runtime import settings
from idp.services import assurance, interactions
from idp.web.protocol import bp, response_modes
from idp.web.protocol.authorization_checks import CONSENT, SIGN_IN, STEP_UP, decide
from idp.web.protocol.authorization_errors import authorization_error_response
from idp.web.ratelimits import authorize_limit
from idp.web.signin.record import SignedIn, browser_binding, current_binding, current_sign_in


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # OpenID Connect Core §3.1.2.1: the RP may send the request as a form POST.
@authorize_limit
def authorize():
    server = get_server()
    signed_in = current_sign_in()
    try:
        grant = server.get_consent_grant(end_user=signed_in.member if signed_in else None)
    except OAuth2Error as error:
        return authorization_error_response(
            error, state=request.values.get("state"), response_mode=_asked_response_mode(request.values)
        )
    try:
        decision = decide(grant, signed_in)
    except OAuth2Error as error:
        # The client and redirect_uri are verified by now, so the error goes back to it.
        error.redirect_uri = grant.redirect_uri
        return authorization_error_response(
            error, state=grant.request.payload.state, response_mode=_asked_response_mode(grant.request.payload.data)
        )

    if decision.interaction is None:
        return _issue_code(server, grant.request, signed_in, grant)

    db = get_session()
    uid = interactions.start(
        db,
        params={key: request.values.get(key) for key in request.values},
        client_id=grant.request.client.client_id,
        browser_binding=browser_binding(),
        ttl_seconds=settings().session.interaction_ttl_seconds,
        needs_login=decision.interaction == SIGN_IN,
        needs_step_up=decision.interaction == STEP_UP,
        needs_consent=decision.interaction == CONSENT,
        member_id=signed_in.member.id if signed_in is not None else None,
        required_acr=decision.requirement.target,
    )
    db.commit()
    return redirect(url_for("interaction.show", uid=uid), 303)


@bp.get("/authorize/resume/<uid>")
@authorize_limit
def resume(uid: str):
    """Answer a held authorization request once its login and consent steps are done. The
    step that completes them answers at once (``answer_held_request``); this URL is for a
    browser that comes back to a request in that state."""
    return answer_held_request(interactions.load(get_session(), uid, current_binding()))


def answer_held_request(interaction, just_signed_in=None):
    """Answer a held request whose steps are done (the code, or idp's own page to go back to),
    in the request that did the last step or at resume: one request and one redirect fewer
    per sign-in than a redirect to resume. Otherwise back to the step still due. Commits,
    with the answer, what the step that called it left uncommitted. ``just_signed_in``: the
    member that step signed in (see ``current_sign_in``)."""
    db = get_session()
    signed_in = current_sign_in(just_signed_in)
    if (
        interaction.state != INTERACTION_READY
        or signed_in is None
        or interaction.member_id != signed_in.member.id
        or not assurance.satisfies(signed_in.authentication.acr, interaction.required_acr)
    ):
        # Not answered yet: a step (login, second factor, consent) is still due, or the
        # session is no longer the one that did them.
        db.commit()
        return redirect(url_for("interaction.show", uid=interaction.uid), 303)
    if interaction.client_id is None:
        # idp's own pages asked for the sign-in: go back there; there is nothing to issue.
        interactions.consume(db, interaction)  # commits
        return redirect(interaction.return_to, 303)
    # Consumed in the transaction that stores the code: one commit for both.
    interactions.consume(db, interaction, commit=False)
    response = _issue_code(get_server(), _stored_request(interaction), signed_in)
    db.commit()  # the step and the consumption alone, when the answer is an error and stored no code
    return response


def deny(interaction):
    """The member refused: answer the held request with access_denied (and iss)."""
    server = get_server()
    stored = _stored_request(interaction)
    response_mode = _asked_response_mode(interaction.params)
    try:
        grant = server.get_consent_grant(request=stored, end_user=None)
    except OAuth2Error as error:
        return authorization_error_response(error, response_mode=response_mode)
    response = server.create_authorization_response(request=stored, grant_user=None, grant=grant)
    return response_modes.deliver(response, grant.redirect_uri, response_mode)


def _stored_request(interaction) -> StoredAuthorizationRequest:
    return StoredAuthorizationRequest(f"{settings().server.issuer}/authorize", interaction.params)


def _issue_code(server, oauth_request, signed_in: SignedIn, grant=None):
    """Issue the code. Authlib's ``create_authorization_response`` validates the request
    itself (client, redirect URI, scope, PKCE, and the nonce replay check, which must run
    again at resume: another request may have used the nonce since), so it is not validated
    a second time before: ``grant`` is the one ``/authorize`` validated with its consent
    checks (prompt), or, at resume, a grant for the stored request, whose prompt was checked
    when it was held."""
    oauth_request.authentication = signed_in.authentication
    response_mode = _asked_response_mode(oauth_request.payload.data)
    oauth_request.user = signed_in.member
    if grant is None:
        try:
            grant = server.get_authorization_grant(oauth_request)
        except OAuth2Error as error:
            error.state = oauth_request.payload.state
            return authorization_error_response(error, response_mode=response_mode)
    response = server.create_authorization_response(request=oauth_request, grant_user=signed_in.member, grant=grant)
    response.headers["Cache-Control"] = "no-store"
    # The grant validated the redirect URI just now (exact match) before redirecting to it.
    redirect_uri = grant.redirect_uri or oauth_request.payload.redirect_uri
    return response_modes.deliver(response, redirect_uri, response_mode)


def _asked_response_mode(params) -> str | None:
    """The response mode to answer in: only one we support (an unknown one is refused by the
    checks, and that refusal goes back as a query)."""
    wanted = params.get("response_mode")
    return wanted if wanted in response_modes.RESPONSE_MODES else None
