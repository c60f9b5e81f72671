"""What makes a password acceptable (NIST SP 800-63B §5.1.1.2, ASVS V2.1).

Length only, no composition rules; any Unicode, compared after NFKC; refused when it is a
commonly used password or contains the member's own identifiers.
"""

from __future__ import annotations

import gzip
import unicodedata
from functools import cache
from pathlib import Path

MAX_LENGTH = 128
_COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt.gz"
# An email's local part shorter than this is too likely to appear by chance to refuse on.
_MIN_IDENTIFIER_FRAGMENT = 5


class PasswordRejected(ValueError):
    """``reason`` is a stable id the pages explain: too_short, too_long, common, contains_identifier."""

    def __init__(self, reason: str, min_length: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.min_length = min_length


@cache
def common_passwords() -> frozenset[str]:
    with gzip.open(_COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip().lower() for line in handle if line.strip())


def check_password(password: str, min_length: int, identifiers: tuple[str, ...] = ()) -> str:
    """The NFKC-normalized password when acceptable; PasswordRejected otherwise."""
    normalized = unicodedata.normalize("NFKC", password)
    if len(normalized) < min_length:
        raise PasswordRejected("too_short", min_length)
    if len(normalized) > MAX_LENGTH:
        raise PasswordRejected("too_long", min_length)
    folded = normalized.casefold()
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise PasswordRejected("common", min_length)
    for fragment in _identifier_fragments(identifiers):
        if fragment in folded:
            raise PasswordRejected("contains_identifier", min_length)
    return normalized


def _identifier_fragments(identifiers: tuple[str, ...]) -> set[str]:
    fragments = set()
    for value in identifiers:
        if not value:
            continue
        value = value.casefold()
        fragments.add(value)
        if "@" in value:
            local = value.split("@", 1)[0]
            if len(local) >= _MIN_IDENTIFIER_FRAGMENT:
                fragments.add(local)
    return fragments
