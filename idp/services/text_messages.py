"""The text messages idp sends to members' mobile numbers, and how they are sent: composed in
the member's language, one SMS segment (at most 160 GSM-7 characters), naming the program,
saying never to share the code, and ending with the WebOTP line ``@<issuer host> #<code>`` so
phones offer to fill the code in. Queued like mail (``outbound`` job kind "sms", retried with
backoff, input encrypted at rest) and counted against a budget per number *and* purpose:
sign-in codes and verification codes never compete, and neither can be asked for by anyone
who has not passed the password or the activation record check (``SmsBudget``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from urllib.parse import urlsplit

from flask_babel import force_locale, gettext
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from sqlalchemy import select

from idp.clock import utcnow
from idp.db import get_session
from idp.models import EmailCode
from idp.runtime import runtime
from idp.security.tokens import digest
from idp.services import outbound
from idp.services.sms import TextMessage
from idp.settings import RateLimitSettings, SmsSettings

log = logging.getLogger("idp.sms")

# What a text is for: each purpose has its own budget per number.
PURPOSE_SIGN_IN = "sign_in"
PURPOSE_VERIFICATION = "verification"

SMS_SEGMENT = 160

# The GSM 03.38 default alphabet (one septet each) and its extension table (two septets each).
_GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = "^{}\\[~]|€\f"


def gsm7_length(text: str) -> int | None:
    """How many septets ``text`` takes in the GSM-7 alphabet; None when it needs UCS-2 (then a
    segment holds only 70 characters)."""
    length = 0
    for character in text:
        if character in _GSM7_BASIC:
            length += 1
        elif character in _GSM7_EXTENDED:
            length += 2
        else:
            return None
    return length


def fits_one_segment(text: str) -> bool:
    length = gsm7_length(text)
    return length is not None and length <= SMS_SEGMENT


# --- the messages ---------------------------------------------------------------------------


def code_text(code: str, locale: str, purpose: str) -> str:
    """The text of a code message in ``locale``. The program's name (``ui.brand_name``) is
    shortened, or its characters outside GSM-7 dropped, rather than let the text need a
    second segment."""
    current = runtime()
    host = urlsplit(current.settings.server.issuer).hostname or ""
    with force_locale(locale):
        brand = current.settings.ui.brand_name or gettext("Member account")
        brand = "".join(character for character in brand if gsm7_length(character) == 1).strip()
        webotp = f"@{host} #{code}"
        for length in range(len(brand), -1, -1):
            text = _body(brand[:length].strip(), code, purpose) + "\n\n" + webotp
            if fits_one_segment(text):
                return text
        return webotp  # a host so long that nothing else fits (then at least autofill works)


def _body(brand: str, code: str, purpose: str) -> str:
    if purpose == PURPOSE_VERIFICATION:
        words = gettext("%(code)s is your code to verify this number. Never share it with anyone.", code=code)
    else:
        words = gettext("%(code)s is your sign-in code. Never share it with anyone, not even our staff.", code=code)
    return f"{brand}: {words}" if brand else words


def sms_test_text(brand_name: str) -> str:
    """The text of ``idp sms test``: no code, the program's name."""
    return f"{brand_name or 'idp'}: test message from idp (idp sms test). Members get their codes the same way."


# --- sending --------------------------------------------------------------------------------


def sms_available() -> bool:
    """Whether this installation sends texts (``sms.backend`` is not none)."""
    return runtime().sms_gateway is not None


def within_budget(purpose: str, number: str) -> bool:
    """Count one text to ``number`` for ``purpose``; False when that budget is used up (then
    nothing is sent, and the member is told to wait or use another way)."""
    budget = runtime().sms_budget
    return budget is None or budget.allow(purpose, number)


def queue_code(number: str, code: str, locale: str, purpose: str, code_id: int | None) -> int:
    """Queue a code message to ``number``; returns the outbound job's id. ``code_id`` names
    the code record, so a text still queued when its code was used, voided or expired is not
    sent at all."""
    message = TextMessage(to=number, text=code_text(code, locale, purpose), purpose=f"sms_{purpose}")
    return outbound.enqueue("sms", {"message": asdict(message), "code_id": code_id})


def deliver(payload: dict) -> None:
    """The queue's handler for "sms": hand the text to the gateway (raises to be retried)."""
    gateway = runtime().sms_gateway
    if gateway is None:
        raise outbound.GiveUp("sms is off")
    code_id = payload.get("code_id")
    if code_id is not None and not _code_still_live(code_id):
        log.info("sms not sent: its code is no longer usable", extra={"purpose": payload["message"]["purpose"]})
        return
    gateway.send(TextMessage(**payload["message"]))


def _code_still_live(code_id: int) -> bool:
    record = get_session().scalar(select(EmailCode).where(EmailCode.id == code_id))
    return record is not None and record.used_at is None and record.voided_at is None and record.expires_at > utcnow()


# --- the budget -----------------------------------------------------------------------------

Hit = Callable[..., bool]


class SmsBudget:
    """How many texts one number may receive for one purpose (``sms.sign_in_per_number``,
    ``sms.verification_per_number``). Counted in the rate-limit storage under keys naming the
    purpose and a digest of the number. While the storage cannot be reached the text goes
    uncounted (the pages that ask for texts are rate-limited themselves)."""

    def __init__(
        self,
        ratelimit: RateLimitSettings,
        sms: SmsSettings,
        hit: Hit,
        on_storage_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self._enabled = ratelimit.enabled
        self._prefix = ratelimit.key_prefix
        self._limits: dict[str, list[RateLimitItem]] = {
            PURPOSE_SIGN_IN: list(parse_many(sms.sign_in_per_number)),
            PURPOSE_VERIFICATION: list(parse_many(sms.verification_per_number)),
        }
        self._hit = hit
        self._on_storage_error = on_storage_error

    def allow(self, purpose: str, number: str) -> bool:
        if not self._enabled:
            return True
        for item in self._limits[purpose]:
            try:
                within = self._hit(item, self._prefix, "sms", purpose, digest(number))
            except StorageError as error:
                if self._on_storage_error is not None:
                    self._on_storage_error(error)
                return True
            if not within:
                log.warning("sms refused: per-number budget", extra={"purpose": purpose, "limit": str(item)})
                return False
        return True
