"""How and when the member signed in: what ends up in auth_time, acr, amr and sid. (Which
levels exist and what each method reaches is ``idp.services.assurance``.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AuthenticationContext:
    auth_time: datetime
    acr: str | None
    amr: tuple[str, ...]
    sid: str | None
