"""The OpenID Connect endpoints: discovery, JWKS, authorize (and its resumption), token, UserInfo."""

from __future__ import annotations

from dataclasses import dataclass

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import Blueprint, current_app, jsonify, redirect, request, session, url_for

from idp.clock import utcnow
from idp.db import get_session
from idp.extensions import csrf, limiter
from idp.models.authentication import ACR_PASSWORD_EMAIL_CODE, acr_satisfies
from idp.models.flows import INTERACTION_READY
from idp.oauth.acr import AcrRequest, requested_acr
from idp.oauth.metadata import provider_metadata
from idp.oauth.server import StoredAuthorizationRequest, get_server
from idp.services import consent as consent_service
from idp.services import interactions
from idp.services import keys as key_service
from idp.settings import client_required_acr
from idp.web.authorization_errors import authorization_error_response
from idp.web.ratelimits import client_key, token_limit
from idp.web.signin import SignedIn, browser_binding, current_sign_in

bp = Blueprint("oidc", __name__)

KNOWN_PROMPTS = {"none", "login", "consent", "select_account"}


def _settings():
    return current_app.extensions["idp.settings"]


@bp.get("/.well-known/openid-configuration")
def discovery():
    settings = _settings()
    response = jsonify(provider_metadata(settings.server.issuer, settings.i18n.supported_locales))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/jwks")
def jwks():
    settings = _settings()
    body = key_service.published_jwks(
        get_session(), settings.keys.retired_key_publish_seconds, current_app.extensions["idp.key_box"]
    )
    response = jsonify(body)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.mimetype = "application/jwk-set+json"
    return response


@dataclass(frozen=True)
class AuthorizationDecision:
    needs_login: bool
    needs_consent: bool
    # The session is signed in, but below the level asked for: a second-factor challenge
    # (not a new password prompt) before anything is issued.
    needs_step_up: bool = False
    # The level the sign-in must reach (stored on the interaction).
    required_acr: str | None = None


def decide(grant, signed_in: SignedIn | None) -> AuthorizationDecision:
    """What the member must still do before a code can be issued, as a list of small checks.

    Raises OAuth2Error (redirected to the client) for prompt=none that cannot be honoured
    and for malformed prompt / max_age values.
    """
    data = grant.request.payload.data
    # OpenID Connect Core §6: an OP that does not support request objects (discovery says so)
    # MUST answer a request that uses one with these errors, rather than silently ignore the
    # parameters the RP put in it.
    if data.get("request"):
        raise RequestNotSupportedError()
    if data.get("request_uri"):
        raise RequestURINotSupportedError()
    prompts = set((data.get("prompt") or "").split())
    unknown = prompts - KNOWN_PROMPTS
    if unknown:
        raise InvalidRequestError(f"Unsupported 'prompt' value: {' '.join(sorted(unknown))}")
    if "none" in prompts and len(prompts) > 1:
        raise InvalidRequestError("'prompt=none' cannot be combined with other values")

    max_age = _parse_max_age(data.get("max_age"))
    needs_login = signed_in is None or "login" in prompts
    if not needs_login and max_age is not None:
        elapsed = (utcnow() - signed_in.authentication.auth_time).total_seconds()
        # max_age=0 means "sign in again now" (OpenID Connect Core §3.1.2.1), like prompt=login.
        needs_login = max_age == 0 or elapsed > max_age

    acr = _acr_request(data, grant.request.client.client_id)
    needs_step_up = False
    if not needs_login:
        needs_step_up = _needs_step_up(signed_in, acr.target)
        if needs_step_up and "none" in prompts and _session_meets_floor(signed_in, acr.floor):
            # acr_values is voluntary (Core §3.1.2.1): without interaction the lower level is
            # issued, and the ID token's acr says which. An essential acr, a client's
            # registered level or security.require_mfa is never answered below its level.
            needs_step_up = False

    needs_consent = False
    if not needs_login:
        needs_consent = consent_service.needs_consent(
            get_session(), signed_in.member, grant.request.client, grant.request.scope, "consent" in prompts
        )

    if "none" in prompts:
        if needs_login:
            raise LoginRequiredError()
        if needs_step_up:
            raise InteractionRequiredError()
        if needs_consent:
            raise ConsentRequiredError()
    return AuthorizationDecision(
        needs_login=needs_login, needs_consent=needs_consent, needs_step_up=needs_step_up, required_acr=acr.target
    )


def _acr_request(data, client_id: str) -> AcrRequest:
    """The level asked for: acr_values, an essential acr claim, the client's registration."""
    registered = client_required_acr(_settings().security).get(client_id)
    return requested_acr(data, registered)


def _policy_floor() -> str | None:
    return ACR_PASSWORD_EMAIL_CODE if _settings().security.require_mfa else None


def _needs_step_up(signed_in: SignedIn, target: str | None) -> bool:
    """Whether the session's sign-in is below the level asked for, or below the policy's."""
    achieved = signed_in.authentication.acr
    if not acr_satisfies(achieved, target):
        return True
    # security.require_mfa: a password-only session needs a factor, unless a remembered
    # browser stood in for it at sign-in.
    return not acr_satisfies(achieved, _policy_floor()) and not session.get("second_factor_remembered")


def _session_meets_floor(signed_in: SignedIn, floor: str | None) -> bool:
    achieved = signed_in.authentication.acr
    policy_met = acr_satisfies(achieved, _policy_floor()) or bool(session.get("second_factor_remembered"))
    return acr_satisfies(achieved, floor) and policy_met


def _parse_max_age(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 10:
        raise InvalidRequestError("'max_age' must be a non-negative whole number of seconds")
    return int(value)


@bp.route("/authorize", methods=["GET", "POST"])
@csrf.exempt  # OpenID Connect Core §3.1.2.1: the RP may send the request as a form POST.
def authorize():
    server = get_server()
    signed_in = current_sign_in()
    try:
        grant = server.get_consent_grant(end_user=signed_in.member if signed_in else None)
    except OAuth2Error as error:
        return authorization_error_response(error, state=request.values.get("state"))
    try:
        decision = decide(grant, signed_in)
    except OAuth2Error as error:
        # The client and redirect_uri are verified by now, so the error goes back to it.
        error.redirect_uri = grant.redirect_uri
        return authorization_error_response(error, state=grant.request.payload.state)

    if not decision.needs_login and not decision.needs_consent and not decision.needs_step_up:
        return _issue_code(server, grant.request, signed_in)

    params = {key: request.values.get(key) for key in request.values.keys()}
    db = get_session()
    interaction = interactions.start(
        db,
        params=params,
        client_id=grant.request.client.client_id,
        browser_binding=browser_binding(),
        needs_login=decision.needs_login,
        needs_consent=decision.needs_consent,
        ttl_seconds=_settings().session.interaction_ttl_seconds,
        required_acr=decision.required_acr,
        step_up_member_id=signed_in.member.id if decision.needs_step_up and not decision.needs_login else None,
    )
    if not decision.needs_login:
        interaction.member_id = signed_in.member.id
    db.commit()
    return redirect(url_for("interaction.show", uid=interaction.uid), 303)


@bp.get("/authorize/resume/<uid>")
def resume(uid: str):
    """Answer a held authorization request once its login and consent steps are done."""
    db = get_session()
    interaction = interactions.load(db, uid, request_binding())
    signed_in = current_sign_in()
    if (
        interaction.state != INTERACTION_READY
        or signed_in is None
        or interaction.member_id != signed_in.member.id
        or not acr_satisfies(signed_in.authentication.acr, interaction.required_acr)
    ):
        # Not answered yet: a step (login, second factor, consent) is still due, or the
        # session is no longer the one that did them.
        return redirect(url_for("interaction.show", uid=uid), 303)
    interactions.consume(db, interaction)
    if interaction.client_id is None:
        # idp's own pages asked for the sign-in: go back there; there is nothing to issue.
        return redirect(interaction.return_to, 303)
    stored = StoredAuthorizationRequest(f"{_settings().server.issuer}/authorize", interaction.params)
    return _issue_code(get_server(), stored, signed_in)


def request_binding() -> str | None:
    return session.get("binding")


def _issue_code(server, oauth_request, signed_in: SignedIn):
    oauth_request.authentication = signed_in.authentication
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=signed_in.member)
    except OAuth2Error as error:
        return authorization_error_response(error)
    response = server.create_authorization_response(request=oauth_request, grant_user=signed_in.member, grant=grant)
    response.headers["Cache-Control"] = "no-store"
    return response


def deny(interaction):
    """The member refused: answer the held request with access_denied (and iss)."""
    server = get_server()
    stored = StoredAuthorizationRequest(f"{_settings().server.issuer}/authorize", interaction.params)
    try:
        grant = server.get_consent_grant(request=stored, end_user=None)
    except OAuth2Error as error:
        return authorization_error_response(error)
    return server.create_authorization_response(request=stored, grant_user=None, grant=grant)


@bp.post("/token")
@csrf.exempt  # Clients authenticate themselves; there is no browser session to forge.
@limiter.limit(token_limit, key_func=client_key)
def token():
    response = get_server().create_token_response()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt  # Bearer-token authenticated, not cookie authenticated.
def userinfo():
    if not request.headers.get("Authorization"):
        # RFC 6750 §3.1: a request with no credentials at all gets the challenge without an
        # error code (Authlib would say "missing_authorization", which is not a 6750 code).
        response = current_app.response_class(status=401)
        response.headers["WWW-Authenticate"] = "Bearer"
        response.headers["Cache-Control"] = "no-store"
        return response
    response = get_server().create_endpoint_response("userinfo")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
