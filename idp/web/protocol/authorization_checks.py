"""What a valid authorization request still needs before a code is issued, as a list of small
named checks (after node-oidc-provider's authorization steps).

Authlib has already verified the client, the exact redirect URI, the response type, the scope
and PKCE. Each check then either lets the request go on (returns None), says the member must
interact (returns the step: sign in, pass a second factor, consent), or refuses it with an
``OAuth2Error``, which goes back to the client. The first check asking for interaction decides
where the interaction starts; with ``prompt=none`` that becomes an error instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)

from idp.clock import utcnow
from idp.db import get_session
from idp.models import Client
from idp.oauth.acr import requested_acr
from idp.runtime import settings
from idp.services import assurance
from idp.services import consent as consent_service
from idp.services.assurance import Requirement
from idp.web.signin.record import SignedIn

KNOWN_PROMPTS = {"none", "login", "consent", "select_account"}

SIGN_IN = "sign_in"
STEP_UP = "step_up"
CONSENT = "consent"
# What prompt=none answers instead of each interaction (OpenID Connect Core §3.1.2.6).
WITHOUT_INTERACTION: dict[str, type[OAuth2Error]] = {
    SIGN_IN: LoginRequiredError,
    STEP_UP: InteractionRequiredError,
    CONSENT: ConsentRequiredError,
}


@dataclass
class PendingRequest:
    """A validated authorization request, as the checks see it."""

    params: dict
    client: Client
    scope: str
    signed_in: SignedIn | None
    prompts: set[str] = field(default_factory=set)
    max_age: int | None = None
    requirement: Requirement = field(default_factory=Requirement)


@dataclass(frozen=True)
class Decision:
    # The step the member must start with (SIGN_IN, STEP_UP, CONSENT), or None: issue now.
    interaction: str | None
    requirement: Requirement


Check = Callable[[PendingRequest], str | None]


def refuses_request_objects(request: PendingRequest) -> None:
    """OpenID Connect Core §6: an OP that does not support request objects (discovery says so)
    MUST answer a request that uses one with these errors, rather than silently ignore the
    parameters the RP put in it."""
    if request.params.get("request"):
        raise RequestNotSupportedError()
    if request.params.get("request_uri"):
        raise RequestURINotSupportedError()


def prompt_is_understood(request: PendingRequest) -> None:
    request.prompts = set((request.params.get("prompt") or "").split())
    unknown = request.prompts - KNOWN_PROMPTS
    if unknown:
        # Never the request's own text in an error description: it may hold any character.
        raise InvalidRequestError("Unsupported 'prompt' value.")
    if "none" in request.prompts and len(request.prompts) > 1:
        raise InvalidRequestError("'prompt=none' cannot be combined with other values")


def max_age_is_understood(request: PendingRequest) -> None:
    value = request.params.get("max_age")
    if value is None or value == "":
        return
    if not value.isdigit() or len(value) > 10:
        raise InvalidRequestError("'max_age' must be a non-negative whole number of seconds")
    request.max_age = int(value)


def level_is_known(request: PendingRequest) -> None:
    """The level asked for: acr_values, an essential acr claim, the client's registration,
    and security.require_mfa (see idp.services.assurance)."""
    request.requirement = requested_acr(request.params, request.client.required_acr, settings().security.require_mfa)


def signed_in(request: PendingRequest) -> str | None:
    return SIGN_IN if request.signed_in is None else None


def no_new_sign_in_asked(request: PendingRequest) -> str | None:
    return SIGN_IN if "login" in request.prompts else None


def sign_in_recent_enough(request: PendingRequest) -> str | None:
    """max_age: the sign-in must be this recent; max_age=0 means "sign in again now"
    (OpenID Connect Core §3.1.2.1), like prompt=login."""
    if request.max_age is None:
        return None
    elapsed = (utcnow() - request.signed_in.authentication.auth_time).total_seconds()
    return SIGN_IN if request.max_age == 0 or elapsed > request.max_age else None


def level_reached(request: PendingRequest) -> str | None:
    """A session below the level asked for passes a second factor (not the password again).
    With prompt=none, a session that meets every essential level is answered at its own
    level (acr_values is voluntary; the ID token's acr says which)."""
    achieved = request.signed_in.authentication.acr
    remembered = request.signed_in.remembered
    if not assurance.needs_step_up(achieved, remembered, request.requirement):
        return None
    if "none" in request.prompts and assurance.meets_floor(achieved, remembered, request.requirement):
        return None
    return STEP_UP


def consent_given(request: PendingRequest) -> str | None:
    needed = consent_service.needs_consent(
        get_session(), request.signed_in.member, request.client, request.scope, "consent" in request.prompts
    )
    return CONSENT if needed else None


CHECKS: tuple[Check, ...] = (
    refuses_request_objects,
    prompt_is_understood,
    max_age_is_understood,
    level_is_known,
    signed_in,
    no_new_sign_in_asked,
    sign_in_recent_enough,
    level_reached,
    consent_given,
)


def decide(grant, signed_in_now: SignedIn | None) -> Decision:
    """Run the checks in order. Raises OAuth2Error (redirected to the client) for a request
    that cannot be honoured, prompt=none included."""
    request = PendingRequest(
        params=grant.request.payload.data,
        client=grant.request.client,
        scope=grant.request.scope,
        signed_in=signed_in_now,
    )
    for check in CHECKS:
        interaction = check(request)
        if interaction is not None:
            if "none" in request.prompts:
                raise WITHOUT_INTERACTION[interaction]()
            return Decision(interaction=interaction, requirement=request.requirement)
    return Decision(interaction=None, requirement=request.requirement)
