"""What authentication level a relying party asks for (OpenID Connect Core §3.1.2.1, §5.5.1.1).

Three sources, combined into one ``AcrRequest``:
- ``acr_values``: space-separated, in order of preference; voluntary. The first value idp
  knows is the level the sign-in aims for; unknown values are ignored.
- the ``claims`` parameter's ``id_token.acr`` member. Only this member of ``claims`` is read
  (discovery keeps ``claims_parameter_supported`` false: the parameter as a whole is not
  supported). When ``essential`` is true, the level must be reached: idp never answers with
  a lower one, and a request naming only unknown values gets
  ``unmet_authentication_requirements``. Non-essential, its values count like ``acr_values``.
- the client's registration (``security.client_required_acr``): always essential.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error

from idp.models.authentication import ACR_VALUES, acr_rank, stronger_acr


class UnmetAuthenticationRequirementsError(OAuth2Error):
    """OpenID Connect Unmet Authentication Requirements 1.0 §2: "The Authorization Server is
    unable to meet the requirements of the Relying Party for the authentication of the
    End-User." Sent for an essential acr request of levels idp does not have."""

    error = "unmet_authentication_requirements"


@dataclass(frozen=True)
class AcrRequest:
    # The level an interactive sign-in must reach (None: any, password included).
    target: str | None
    # The level below which nothing may be issued, even without interaction (essential acr
    # claim or client registration). Always at most ``target``.
    floor: str | None


def requested_acr(params: Mapping[str, str | None], client_required: str | None) -> AcrRequest:
    """Raises InvalidRequestError for a malformed ``claims`` value and
    UnmetAuthenticationRequirementsError for an essential acr naming only unknown levels."""
    preferred = _first_known((params.get("acr_values") or "").split())
    essential_level, voluntary_claim = _acr_claim(params.get("claims"))
    floor = stronger_acr(essential_level, client_required)
    target = stronger_acr(stronger_acr(preferred, voluntary_claim), floor)
    return AcrRequest(target=target, floor=floor)


def _first_known(values: list[str]) -> str | None:
    return next((value for value in values if value in ACR_VALUES), None)


def _acr_claim(raw: str | None) -> tuple[str | None, str | None]:
    """(essential level, voluntary level) from the claims parameter's id_token.acr."""
    if not raw:
        return None, None
    try:
        claims = json.loads(raw)
    except (ValueError, TypeError):
        raise InvalidRequestError("'claims' must be a JSON object.") from None
    if not isinstance(claims, dict):
        raise InvalidRequestError("'claims' must be a JSON object.")
    id_token = claims.get("id_token")
    acr = id_token.get("acr") if isinstance(id_token, dict) else None
    if not isinstance(acr, dict):
        return None, None
    values = acr.get("values") if isinstance(acr.get("values"), list) else None
    if values is None and isinstance(acr.get("value"), str):
        values = [acr["value"]]
    values = [value for value in values or [] if isinstance(value, str)]
    known = [value for value in values if value in ACR_VALUES]
    if acr.get("essential") is True:
        if values and not known:
            raise UnmetAuthenticationRequirementsError(
                "None of the requested acr values is supported; see acr_values_supported."
            )
        # Any listed value is acceptable: the weakest one is what must be met.
        return (min(known, key=acr_rank) if known else None), None
    return None, _first_known(values)
