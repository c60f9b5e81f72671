"""How much mail one account or address may receive: extra mail is dropped silently, so the
page answers the same and a budget cannot be used to learn about accounts or flood an inbox.

Counted in the rate-limit storage (memory, or Redis shared by every process), under keys
of their own. Keys name the recipient and, where budgets are separate, the purpose
(``member:<id>``, ``member:<id>:notice``, ``address:<digest>``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from limits import RateLimitItem, parse_many

from idp.settings import RateLimitSettings

log = logging.getLogger("idp.mail")

# hit(limit, *identifiers) -> bool: the rate-limit strategy's own call, True when under it.
Hit = Callable[..., bool]


class MailBudget:
    def __init__(self, ratelimit: RateLimitSettings, hit: Hit) -> None:
        self._enabled = ratelimit.enabled
        self._prefix = ratelimit.key_prefix
        self._limits: list[RateLimitItem] = list(parse_many(ratelimit.email_per_identifier))
        self._hit = hit

    def allow(self, recipient_key: str) -> bool:
        """Count one mail to this recipient; False when over the budget (then the caller drops
        the mail and answers as usual)."""
        if not self._enabled:
            return True
        for item in self._limits:
            if not self._hit(item, self._prefix, "mail", recipient_key):
                log.warning("mail dropped: per-recipient limit", extra={"limit": str(item)})
                return False
        return True
