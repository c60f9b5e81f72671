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
from idp.oauth.claims import expected_subject, parse_claims_request
from idp.oauth.grants import InvalidTargetError
from idp.oauth.id_token_hint import HintNotOurs, read_id_token_hint
from idp.runtime import settings
from idp.services import assurance, resource_servers
from idp.services import consent as consent_service
from idp.services.assurance import Requirement
from idp.web.protocol.response_modes import RESPONSE_MODES
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


# Parameters a request may carry more than once.
REPEATABLE_PARAMETERS = frozenset({"resource"})


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
    # RFC 8707: every `resource` value of the request.
    resources: list[str] = field(default_factory=list)
    # Parameters sent more than once (RFC 6749 §3.1: not allowed).
    repeated: set[str] = field(default_factory=set)
    # The member an id_token_hint names (its sub), once the hint is found to be ours.
    hinted_subject: str | None = None


@dataclass(frozen=True)
class Decision:
    # The step the member must start with (SIGN_IN, STEP_UP, CONSENT), or None: issue now.
    interaction: str | None
    requirement: Requirement


Check = Callable[[PendingRequest], str | None]


def no_parameter_repeated(request: PendingRequest) -> None:
    """RFC 6749 §3.1: request parameters MUST NOT be included more than once. (client_id and
    redirect_uri repeated are refused before, with our error page: no redirect can be trusted.)"""
    if request.repeated:
        raise InvalidRequestError(f"Repeated parameter: {', '.join(sorted(request.repeated))}.")


def response_mode_is_supported(request: PendingRequest) -> None:
    """``query`` and ``form_post`` (advertised in response_modes_supported); any other value is
    refused rather than ignored (the refusal itself goes back as a query)."""
    mode = request.params.get("response_mode")
    if mode not in (None, "", *RESPONSE_MODES):
        raise InvalidRequestError("Unsupported 'response_mode': use query or form_post.")


def id_token_hint_is_ours(request: PendingRequest) -> None:
    """An id_token_hint must be an ID token idp issued (expired is fine): a bad signature,
    ``alg: none``, or another issuer is refused (oauth.id_token_hint)."""
    hint = request.params.get("id_token_hint")
    if not hint:
        return
    try:
        request.hinted_subject = read_id_token_hint(hint).subject
    except HintNotOurs:
        raise InvalidRequestError("The 'id_token_hint' was not issued by this provider.") from None


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


def claims_request_is_understood(request: PendingRequest) -> None:
    """The ``claims`` parameter (Core §5.5) is well formed; a ``sub`` value in it names the
    member expected, like an id_token_hint (oauth.claims)."""
    parsed = parse_claims_request(request.params.get("claims"))
    subject = expected_subject(parsed)
    if subject is not None:
        if request.hinted_subject is not None and request.hinted_subject != subject:
            raise InvalidRequestError("The 'claims' sub and the 'id_token_hint' name different members.")
        request.hinted_subject = subject


def level_is_known(request: PendingRequest) -> None:
    """The level asked for: acr_values, an essential acr claim, the client's registration,
    and security.require_mfa (see idp.services.assurance)."""
    request.requirement = requested_acr(request.params, request.client.required_acr, settings().security.require_mfa)


def resource_is_allowed(request: PendingRequest) -> None:
    """RFC 8707 §2: `resource` names a registered resource server this client may use (one),
    else invalid_target, before the member is asked to do anything."""
    try:
        resource_servers.audience_for(
            get_session(), request.client, request.resources, settings().tokens.access_token_audience
        )
    except resource_servers.InvalidTarget as problem:
        raise InvalidTargetError(str(problem)) from None


def signed_in(request: PendingRequest) -> str | None:
    return SIGN_IN if request.signed_in is None else None


def hinted_member_signed_in(request: PendingRequest) -> str | None:
    """The hint names someone else than the member signed in here: a new sign-in (with
    prompt=none, login_required; OpenID Connect Core §3.1.2.1)."""
    if request.hinted_subject is None or request.hinted_subject == request.signed_in.member.subject:
        return None
    return SIGN_IN


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
    no_parameter_repeated,
    response_mode_is_supported,
    refuses_request_objects,
    id_token_hint_is_ours,
    prompt_is_understood,
    max_age_is_understood,
    claims_request_is_understood,
    level_is_known,
    resource_is_allowed,
    signed_in,
    hinted_member_signed_in,
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
        resources=list(grant.request.payload.datalist.get("resource", [])),
        # `resource` may be repeated (RFC 8707 §2); the resource check judges how many it takes.
        repeated={
            name
            for name, values in grant.request.payload.datalist.items()
            if len(values) > 1 and name not in REPEATABLE_PARAMETERS
        },
    )
    for check in CHECKS:
        interaction = check(request)
        if interaction is not None:
            if "none" in request.prompts:
                raise WITHOUT_INTERACTION[interaction]()
            return Decision(interaction=interaction, requirement=request.requirement)
    return Decision(interaction=None, requirement=request.requirement)
