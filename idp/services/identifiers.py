"""What a member types to sign in, turned into one canonical form."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers

from idp.security.tokens import digest

MEMBERSHIP_NUMBER_PATTERN = re.compile(r"^[0-9]{11}$")
NIK_PATTERN = re.compile(r"^[0-9]{16}$")
_NUMBER_SEPARATORS = re.compile(r"[\s\-]")
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Identifier:
    kind: str  # "email", "membership_number" or "unrecognised"
    value: str

    @property
    def digest(self) -> str:
        """What the audit log and lockout store instead of the identifier itself."""
        return digest(f"{self.kind}:{self.value}")


def normalize_identifier(raw: str) -> Identifier:
    """NFKC (full-width digits become ASCII); trim; lower-case an email; strip spaces and
    dashes from a membership number."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if "@" in text:
        return Identifier("email", canonical_email(text))
    compact = _NUMBER_SEPARATORS.sub("", text)
    if MEMBERSHIP_NUMBER_PATTERN.fullmatch(compact):
        return Identifier("membership_number", compact)
    return Identifier("unrecognised", text.lower())


def canonical_email(raw: str) -> str:
    """The one form of an address, for storing and for looking up alike: NFKC (full-width
    letters become ASCII), trimmed, lower-cased."""
    return unicodedata.normalize("NFKC", raw).strip().lower()


def normalize_email(raw: str) -> str:
    """An address to store, in ``canonical_email`` form; ValueError when it is not one."""
    email = canonical_email(raw)
    if not _EMAIL_PATTERN.fullmatch(email) or len(email) > 254:
        raise ValueError("not a valid email address")
    return email


INDONESIA_REGION = "ID"


def normalize_phone(raw: str) -> str:
    """A phone number in E.164 form (``+6281234567890``), parsed and validated by
    ``phonenumbers``: a number without a country code is read as Indonesian, so ``0812…``,
    ``+62 812…`` and ``62812…`` all become ``+62812…``. ValueError when it is not a valid
    number."""
    number = _parse_phone(raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_mobile_number(e164: str | None) -> bool:
    """Whether a stored (E.164) number can receive text messages: a mobile number, or one
    whose plan does not say (some countries' mobile and fixed numbers look alike)."""
    if not e164:
        return False
    try:
        number = _parse_phone(e164)
    except ValueError:
        return False
    return phonenumbers.number_type(number) in _TEXTABLE


_TEXTABLE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def _parse_phone(raw: str) -> phonenumbers.PhoneNumber:
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text or len(text) > 32:
        raise ValueError("not a phone number like +6281234567890")
    if text.startswith("00"):
        # The international prefix most of the world dials.
        text = "+" + text[2:]
    elif text.startswith("62") and not text.startswith("620"):
        # A number written with the country code but without the plus (62812…).
        text = "+" + text
    try:
        number = phonenumbers.parse(text, INDONESIA_REGION)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number like +6281234567890") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a phone number like +6281234567890")
    return number


def mask_phone(e164: str | None) -> str:
    """``+62 812••••890``: enough to recognise one's own number, not to copy it."""
    if not e164:
        return ""
    try:
        number = _parse_phone(e164)
    except ValueError:
        return ""
    national = str(number.national_number)
    shown = national[:3] + "\u2022" * max(len(national) - 6, 2) + national[-3:]
    return f"+{number.country_code} {shown}"
