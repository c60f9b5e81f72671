"""Which member claims each scope releases (OpenID Connect Core §5.4, plus `membership`), and
the ``claims`` request parameter (Core §5.5): which of those claims a client wants where (the
ID token, UserInfo), as essential or voluntary, with a value or values.

The ``claims`` parameter never widens what is released: a claim is returned only when a
granted scope covers it (consent is given per scope), so an ID token can carry e.g. the
email the ``email`` scope already releases at UserInfo. A claim asked for with ``value`` or
``values`` is left out when the member's value is not one of them. ``acr`` in it is read by
``idp.oauth.acr``; ``sub`` with a value names the member the client expects (a different
member signed in means a new sign-in, like an ``id_token_hint``).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Protocol

from authlib.oauth2.rfc6749 import InvalidRequestError, scope_to_list

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "birthdate", "locale"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "membership": ("membership_number",),
}

CLAIMS_SUPPORTED = (
    *tuple(dict.fromkeys(claim for claims in SCOPE_CLAIMS.values() for claim in claims)),
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "at_hash",
    "sid",
)


class ClaimsSource(Protocol):
    """What the claims are read from: a ``Member``, or a row of the same columns (UserInfo's
    fast path reads them in one statement with the token, ``idp.oauth.userinfo``)."""

    subject: str
    full_name: str
    birth_date: date
    locale: str
    email: str | None
    email_verified: bool
    phone: str | None
    phone_verified: bool
    membership_number: str


# The member columns ``member_claims`` reads (the fields of ``ClaimsSource``).
CLAIMS_SOURCE_COLUMNS = tuple(ClaimsSource.__annotations__)


def member_claims(member: ClaimsSource) -> dict[str, Any]:
    return {
        "sub": member.subject,
        "name": member.full_name,
        "birthdate": member.birth_date.isoformat(),
        "locale": member.locale,
        "email": member.email,
        "email_verified": bool(member.email and member.email_verified),
        "phone_number": member.phone,
        "phone_number_verified": bool(member.phone and member.phone_verified),
        "membership_number": member.membership_number,
    }


def claims_for_scope(member: ClaimsSource, scope: str) -> dict[str, Any]:
    """The claims the granted scope releases; claims with no value are left out."""
    released = {"sub"}
    for item in scope_to_list(scope) or []:
        released.update(SCOPE_CLAIMS.get(item, ()))
    values = member_claims(member)
    claims = {}
    for name in values:  # in member_claims' order, so every answer lists them alike
        if name not in released:
            continue
        value = values[name]
        if value is None or (name in {"email_verified"} and values.get("email") is None):
            continue
        if name == "phone_number_verified" and values.get("phone_number") is None:
            continue
        claims[name] = value
    return claims


def userinfo_claims(member: ClaimsSource, scope: str, claims_json: str | None = None) -> dict:
    """What the granted scope releases, and what the claims request's userinfo member asks
    for within it (the same set: the claims parameter never widens consent)."""
    claims = claims_for_scope(member, scope)
    if claims_json:
        claims.update(requested_claims(member, scope, json.loads(claims_json).get("userinfo")))
    return claims


CLAIMS_REQUEST_MEMBERS = ("userinfo", "id_token")


def parse_claims_request(raw: str | None) -> dict[str, dict[str, Any]] | None:
    """The ``claims`` parameter checked and reduced to the members idp reads (``userinfo``,
    ``id_token``; others are ignored, Core §5.5), or None. InvalidRequestError when malformed."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, TypeError):
        raise InvalidRequestError("'claims' must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("'claims' must be a JSON object.")
    parsed: dict[str, dict[str, Any]] = {}
    for member in CLAIMS_REQUEST_MEMBERS:
        requested = value.get(member)
        if requested is None:
            continue
        if not isinstance(requested, dict):
            raise InvalidRequestError(f"'claims.{member}' must be a JSON object.")
        for name, spec in requested.items():
            if spec is None:
                continue
            if not isinstance(spec, dict):
                raise InvalidRequestError(f"'claims.{member}.{name}' must be null or a JSON object.")
            if "essential" in spec and not isinstance(spec["essential"], bool):
                raise InvalidRequestError(f"'claims.{member}.{name}.essential' must be true or false.")
            if "values" in spec and not isinstance(spec["values"], list):
                raise InvalidRequestError(f"'claims.{member}.{name}.values' must be an array.")
        parsed[member] = requested
    return parsed or None


def expected_subject(parsed: dict[str, dict[str, Any]] | None) -> str | None:
    """The ``sub`` value a claims request names (Core §5.5.1), if any."""
    for member in CLAIMS_REQUEST_MEMBERS:
        spec = ((parsed or {}).get(member) or {}).get("sub")
        if isinstance(spec, dict) and isinstance(spec.get("value"), str):
            return spec["value"]
    return None


def requested_claims(member: ClaimsSource, scope: str, requested: dict[str, Any] | None) -> dict[str, Any]:
    """Of the claims ``requested`` (one member of a claims request), those the granted scope
    covers and whose value matches what was asked for."""
    if not requested:
        return {}
    available = claims_for_scope(member, scope)
    released = {}
    for name, spec in requested.items():
        if name == "sub" or name not in available:
            continue
        wanted = _wanted_values(spec)
        if wanted is not None and available[name] not in wanted:
            continue
        released[name] = available[name]
    return released


def _wanted_values(spec: Any) -> list | None:
    if not isinstance(spec, dict):
        return None
    if isinstance(spec.get("values"), list):
        return spec["values"]
    if "value" in spec:
        return [spec["value"]]
    return None
