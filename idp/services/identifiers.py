"""What a member types to sign in, turned into one canonical form."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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


_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
INDONESIA_CALLING_CODE = "+62"


def normalize_phone(raw: str) -> str:
    """A phone number in E.164 form (``+6281234567890``): NFKC, spaces, dashes, dots and
    brackets dropped; a national Indonesian number (``0812…``) gets the +62 prefix.
    ValueError when it is not a plausible international number."""
    text = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw).strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.startswith("0"):
        text = INDONESIA_CALLING_CODE + text[1:]
    elif text.startswith("62"):
        text = "+" + text
    if not _E164.fullmatch(text) or not text[1:].isascii():
        raise ValueError("not a phone number like +6281234567890")
    return text
