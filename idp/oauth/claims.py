"""Which member claims each scope releases (OpenID Connect Core §5.4, plus `membership`)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list

from idp.models import Member

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


def member_claims(member: Member) -> dict[str, Any]:
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


def claims_for_scope(member: Member, scope: str) -> dict[str, Any]:
    """The claims the granted scope releases; claims with no value are left out."""
    released = {"sub"}
    for item in scope_to_list(scope) or []:
        released.update(SCOPE_CLAIMS.get(item, ()))
    values = member_claims(member)
    claims = {}
    for name in released:
        value = values.get(name)
        if value is None or (name in {"email_verified"} and values.get("email") is None):
            continue
        if name == "phone_number_verified" and values.get("phone_number") is None:
            continue
        claims[name] = value
    return claims
