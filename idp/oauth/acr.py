"""Reading what authentication level an authorization request asks for, in protocol terms
(OpenID Connect Core §3.1.2.1 ``acr_values``, §5.5.1.1 the ``claims`` parameter's
``id_token.acr``), and saying no in protocol errors. What the levels mean and how the sources
combine is ``idp.services.assurance``.

Only the ``id_token.acr`` member of ``claims`` is read here; the rest of the parameter is
``idp.oauth.claims`` (checked at /authorize by ``claims_request_is_understood``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error

from idp.services import assurance
from idp.services.assurance import AcrClaim, Requirement


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """OpenID Connect Unmet Authentication Requirements 1.0 §2: "The Authorization Server is
    unable to meet the requirements of the Relying Party for the authentication of the
    End-User." Sent for an essential acr request of levels idp does not have."""

    error = "unmet_authentication_requirements"


def requested_acr(
    params: Mapping[str, str | None], client_required: str | None, require_mfa: bool = False
) -> Requirement:
    """The request's requirement. Raises InvalidRequestError for a malformed ``claims`` value
    and UnmetAuthenticationRequirementsError for an essential acr naming only unknown levels."""
    try:
        return assurance.requirement(
            (params.get("acr_values") or "").split(), _acr_claim(params.get("claims")), client_required, require_mfa
        )
    except assurance.UnmetRequirement:
        raise UnmetAuthenticationRequirementsError(
            "None of the requested acr values is supported; see acr_values_supported."
        ) from None


def _acr_claim(raw: str | None) -> AcrClaim | None:
    if not raw:
        return None
    try:
        claims = json.loads(raw)
    except (ValueError, TypeError):
        raise InvalidRequestError("'claims' must be a JSON object.") from None
    if not isinstance(claims, dict):
        raise InvalidRequestError("'claims' must be a JSON object.")
    id_token = claims.get("id_token")
    acr = id_token.get("acr") if isinstance(id_token, dict) else None
    if not isinstance(acr, dict):
        return None
    values = acr.get("values") if isinstance(acr.get("values"), list) else None
    if values is None and isinstance(acr.get("value"), str):
        values = [acr["value"]]
    return AcrClaim(
        essential=acr.get("essential") is True,
        values=tuple(value for value in values or [] if isinstance(value, str)),
    )
