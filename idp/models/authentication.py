"""How and when the member signed in: what ends up in auth_time, acr, amr and sid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# acr values (OpenID Connect Core §2). Documented in docs/tokens.md. The email-code level is
# distinct because NIST SP 800-63B does not accept email as a strong second factor.
ACR_PASSWORD = "urn:idp:acr:pwd"
ACR_PASSWORD_EMAIL_CODE = "urn:idp:acr:pwd+email"
ACR_PASSWORD_AUTHENTICATOR = "urn:idp:acr:mfa"
# What discovery advertises, weakest first. Each level satisfies every level before it.
ACR_VALUES = (ACR_PASSWORD, ACR_PASSWORD_EMAIL_CODE, ACR_PASSWORD_AUTHENTICATOR)

# amr values (RFC 8176) of each way to sign in. RFC 8176 has no value for an emailed code: it
# is a one-time password sent out of band, hence "otp" like an authenticator app; the
# difference in strength is carried by acr, which is what a relying party should check.
# A recovery code is a look-up secret, not a generated one-time password: no "otp".
AMR_PASSWORD = ("pwd",)
AMR_TOTP = ("pwd", "otp", "mfa")
AMR_EMAIL_CODE = ("pwd", "otp", "mfa")
AMR_RECOVERY_CODE = ("pwd", "mfa")


def acr_rank(acr: str | None) -> int:
    """The position of a level among ACR_VALUES (weakest 0); -1 for none or an unknown value."""
    try:
        return ACR_VALUES.index(acr) if acr else -1
    except ValueError:
        return -1


def acr_satisfies(achieved: str | None, required: str | None) -> bool:
    """Whether a sign-in at level ``achieved`` meets a requirement of level ``required``
    (None: no requirement). An unknown required value is never met."""
    if required is None:
        return True
    needed = acr_rank(required)
    return needed >= 0 and acr_rank(achieved) >= needed


def stronger_acr(first: str | None, second: str | None) -> str | None:
    """The stronger of two known levels (None counts as no requirement)."""
    return first if acr_rank(first) >= acr_rank(second) else second


@dataclass(frozen=True)
class AuthenticationContext:
    auth_time: datetime
    acr: str | None
    amr: tuple[str, ...]
    sid: str | None
