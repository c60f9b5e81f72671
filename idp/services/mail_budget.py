"""How much mail one account or address may receive: extra mail is dropped silently, so the
page answers the same and a budget cannot be used to learn about accounts or flood an inbox.

Counted in the rate-limit storage (memory, or Redis shared by every process), under keys
of their own. While that storage cannot be reached the mail goes uncounted: dropping it would
lose a reset link or a security notice, and the endpoints that can cause mail in bulk are
rate-limited themselves (closed, by default, while the storage is away). Keys name the
recipient and the purpose (``member:<id>:reset``, ``member:<id>:code``, ``address:<digest>``);
each purpose has its own ``ratelimit`` setting (``notifications.Budget``). Security notices
are never counted here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from limits import RateLimitItem, parse_many
from limits.errors import StorageError

from idp.settings import RateLimitSettings

log = logging.getLogger("idp.mail")

# hit(limit, *identifiers) -> bool: the rate-limit strategy's own call, True when under it.
Hit = Callable[..., bool]


class MailBudget:
    def __init__(
        self, ratelimit: RateLimitSettings, hit: Hit, on_storage_error: Callable[[Exception], None] | None = None
    ) -> None:
        self._enabled = ratelimit.enabled
        self._prefix = ratelimit.key_prefix
        self._ratelimit = ratelimit
        self._parsed: dict[str, list[RateLimitItem]] = {}
        self._hit = hit
        self._on_storage_error = on_storage_error

    def _items(self, limit: str) -> list[RateLimitItem]:
        if limit not in self._parsed:
            self._parsed[limit] = list(parse_many(getattr(self._ratelimit, limit)))
        return self._parsed[limit]

    def allow(self, recipient_key: str, limit: str = "email_per_identifier") -> bool:
        """Count one mail to this recipient against ``ratelimit.<limit>``; False when over the
        budget (then the caller drops the mail and answers as usual)."""
        if not self._enabled:
            return True
        for item in self._items(limit):
            try:
                within = self._hit(item, self._prefix, "mail", recipient_key)
            except StorageError as error:
                if self._on_storage_error is not None:
                    self._on_storage_error(error)
                return True
            if not within:
                log.warning("mail dropped: per-recipient limit", extra={"limit": str(item)})
                return False
        return True
