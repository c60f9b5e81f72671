"""How and when the member signed in: what ends up in auth_time, acr, amr and sid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# acr values (OpenID Connect Core §2). Documented in docs/tokens.md. The email-code level is
# distinct because NIST SP 800-63B does not accept email as a strong second factor.
ACR_PASSWORD = "urn:idp:acr:pwd"
ACR_PASSWORD_EMAIL_CODE = "urn:idp:acr:pwd+email"
ACR_PASSWORD_AUTHENTICATOR = "urn:idp:acr:mfa"
# What discovery advertises: only the levels a sign-in can reach today.
ACR_VALUES = (ACR_PASSWORD,)


@dataclass(frozen=True)
class AuthenticationContext:
    auth_time: datetime
    acr: str | None
    amr: tuple[str, ...]
    sid: str | None
